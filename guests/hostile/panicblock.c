/* hostile panicblock: PANIC with its argument block in page 0. */
#include "hostile.h"

int main(void)
{
	hostile_about("panicblock", "PANIC with an argument block in page 0");
	hostile_out(DENALI_HC_PANIC, 0x10);
	hostile_survived("panicblock");
}
