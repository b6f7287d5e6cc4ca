/* hostile argblock: IDLE with an argument block outside guest memory. */
#include "hostile.h"

int main(void)
{
	uint64_t gpa = dn_mem_size() + 4096;

	hostile_about("argblock", "IDLE with an argument block outside guest memory");
	hostile_out(DENALI_HC_IDLE, (uint32_t)gpa);
	hostile_survived("argblock");
}
