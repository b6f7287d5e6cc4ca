/* Guest console text on an operator's terminal: a hostile guest must not be able to send it
 * escape sequences (set the title, rewrite the screen, write the clipboard through OSC 52,
 * answer back through the terminal's reports). */
#ifndef DENALI_CMD_TERMSAFE_H
#define DENALI_CMD_TERMSAFE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Writes buf[0, len) to f as text a terminal only displays: newline and tab pass, every other
 * C0 control, DEL, the C1 controls (U+0080-U+009F, the 8-bit CSI among them) and bytes that
 * are not valid UTF-8 become '?'; valid UTF-8 passes unchanged. Callers use it only when f is
 * a terminal (scripts reading a pipe or a file get the bytes as they were).
 */
void term_safe_write(FILE *f, const char *buf, size_t len);

#endif
