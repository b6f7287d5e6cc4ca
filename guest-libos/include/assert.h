/* guest-libos <assert.h>: a failed assertion PANICs the VM with its text. */
#ifndef DENALI_LIBOS_ASSERT_H
#define DENALI_LIBOS_ASSERT_H

_Noreturn void __dn_assert_fail(const char *expr, const char *file, int line, const char *func);

#endif /* DENALI_LIBOS_ASSERT_H */

/* Like the standard header, assert() follows NDEBUG at each inclusion. */
#undef assert
#ifdef NDEBUG
#define assert(e) ((void)0)
#else
#define assert(e) ((e) ? (void)0 : __dn_assert_fail(#e, __FILE__, __LINE__, __func__))
#endif
#ifndef static_assert
#define static_assert _Static_assert
#endif
