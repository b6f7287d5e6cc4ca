/* Log lines for the control plane: one line each, prefixed with the function
 * that logged it, written to stderr (systemd's journal captures stderr). */
#ifndef DENALI_CTL_LOG_H
#define DENALI_CTL_LOG_H

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

/* Writes "FUNC: message\n" as one write(2). Under systemd (JOURNAL_STREAM set) the line is
 * prefixed with "<N>" so the journal records its priority. Lines above the current level are
 * dropped. Safe to call from any thread. */
void log_write(enum log_level lvl, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Lines with a level above lvl are dropped (default: LOG_LVL_INFO; DENALI_DEBUG=1 in the
 * environment raises it to LOG_LVL_DEBUG). */
void log_set_level(enum log_level lvl);

/* Pushes out anything buffered; called on shutdown. */
void log_flush(void);

#define log_err(...)   log_write(LOG_LVL_ERR, __func__, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LVL_WARN, __func__, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LVL_INFO, __func__, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LVL_DEBUG, __func__, __VA_ARGS__)

#endif
