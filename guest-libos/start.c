/*
 * C start-up, called by crt0: copy the arguments out of the read-only vregs
 * page onto the stack (argv strings are writable, as C promises), run
 * constructors, main(), flush the console and EXIT with main's value.
 */
#include "libos_private.h"
#include <denali/libos.h>
#include <stdlib.h>

extern int main(int argc, char **argv);

typedef void (*ctor_fn)(void);
extern ctor_fn __init_array_start[] __attribute__((weak));
extern ctor_fn __init_array_end[] __attribute__((weak));

_Noreturn void __dn_start(void)
{
	const volatile struct denali_vregs *v = VREGS;

	if (v->magic != DENALI_VREGS_MAGIC || v->abi_version != DENALI_ABI_VERSION)
		dn_panic("guest-libos: vregs magic or ABI version mismatch");

	uint32_t len = v->args_len;
	if (len > DENALI_ARGS_MAX)
		len = DENALI_ARGS_MAX;
	char args[len + 1];
	for (uint32_t i = 0; i < len; i++)
		args[i] = v->args[i];
	args[len] = '\0';

	/* Trust argc only as far as the NUL-separated strings really go. */
	uint32_t argc = v->argc;
	uint32_t found = 0;
	for (uint32_t i = 0; i < len; i++) {
		if (args[i] == '\0')
			found++;
	}
	if (argc > found)
		argc = found;

	char *argv[argc + 1];
	char *p = args;
	for (uint32_t i = 0; i < argc; i++) {
		argv[i] = p;
		while (*p)
			p++;
		p++;
	}
	argv[argc] = NULL;

	for (ctor_fn *f = __init_array_start; f < __init_array_end; f++)
		(*f)();

	exit(main((int)argc, argv));
}
