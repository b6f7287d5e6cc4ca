/*
 * guest-libos <stdio.h>: formatted output to the console ring. No FILE
 * streams; stdout and stderr are the same line-buffered console.
 */
#ifndef DENALI_LIBOS_STDIO_H
#define DENALI_LIBOS_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#define EOF (-1)

#define DN_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*
 * Conversions: %d %i %u %o %x %X %p %s %c %%, length modifiers hh h l ll z j t,
 * flags '-' '0' '+' ' ' '#', width and precision (also '*').
 */
int printf(const char *fmt, ...) DN_PRINTF(1, 2);
int vprintf(const char *fmt, va_list ap) DN_PRINTF(1, 0);
int snprintf(char *buf, size_t size, const char *fmt, ...) DN_PRINTF(3, 4);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) DN_PRINTF(3, 0);
int sprintf(char *buf, const char *fmt, ...) DN_PRINTF(2, 3);
int vsprintf(char *buf, const char *fmt, va_list ap) DN_PRINTF(2, 0);

/* Console output; puts appends a newline. */
int putchar(int c);
int puts(const char *s);

/* Post pending console output (the argument is ignored: one stream). */
int fflush(void *stream);

#endif /* DENALI_LIBOS_STDIO_H */
