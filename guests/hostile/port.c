/* hostile port: `out` to port 0x600, which is not a hypercall port. */
#include "hostile.h"

int main(void)
{
	hostile_about("port", "write to I/O port 0x600");
	hostile_out(0x600, 0x12345678u);
	hostile_survived("port");
}
