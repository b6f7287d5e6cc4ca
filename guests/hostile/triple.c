/* hostile triple: an invalid opcode; with no IDT it becomes a triple fault. */
#include "hostile.h"

int main(void)
{
	hostile_about("triple", "execute ud2");
	__asm__ volatile("ud2" ::: "memory");
	hostile_survived("triple");
}
