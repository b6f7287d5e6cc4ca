/* hostile wrap: PANIC whose message address + length wraps around. */
#include "hostile.h"

int main(void)
{
	static volatile struct denali_hc_panic arg;

	arg.msg_gpa = 0x200000;
	arg.len = 0xffffffffffffff00ull;
	hostile_about("wrap", "PANIC with msg_gpa 0x200000 and a length that wraps");
	hostile_out(DENALI_HC_PANIC, (uint32_t)(uintptr_t)&arg);
	hostile_survived("wrap");
}
