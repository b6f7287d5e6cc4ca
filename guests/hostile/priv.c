/* hostile priv: a privileged instruction (hlt) in ring 3. */
#include "hostile.h"

int main(void)
{
	hostile_about("priv", "execute hlt");
	__asm__ volatile("hlt" ::: "memory");
	hostile_survived("priv");
}
