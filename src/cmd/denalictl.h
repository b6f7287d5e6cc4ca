/* denalictl's shared pieces: the verbs in denalictl_*.c use these from denalictl.c. */
#ifndef DENALI_CMD_DENALICTL_H
#define DENALI_CMD_DENALICTL_H

#include <jansson.h>
#include <stdbool.h>

/* Exit status (PROTOCOL.md, "denalictl"). */
#define EXIT_OK		 0
#define EXIT_ERR	 1 /* the daemon refused or failed */
#define EXIT_USAGE	 2
#define EXIT_UNREACHABLE 3 /* no socket, refused, or closed before an answer */
#define EXIT_DENIED	 4 /* permission denied on the socket */

/* Prints "denalictl VERB: message" and a hint, exits EXIT_USAGE. */
void die_usage(const char *verb, const char *fmt, const char *arg) __attribute__((noreturn));

/* The control socket's path (denalictl.c sets it from --socket or $DENALI_SOCKET). */
extern const char *denalictl_socket;

/* Sends req (reference stolen), waits for the final reply; returns an exit status and, with
 * an answer, the reply in *reply (the caller frees it). */
int call(json_t *req, json_t **reply);

bool is_help(const char *a);

/* The one wording of a bad VM name. */
#define CTL_NAME_RULE "1-63 characters of A-Z a-z 0-9 . _ -"

/* A word a verb does not take: "unknown option X" for -X, "unexpected argument X" else;
 * exits EXIT_USAGE. */
void die_bad_arg(const char *verb, const char *arg) __attribute__((noreturn));

/* Exits EXIT_USAGE with "bad name X: <the rule>" unless name is a valid VM name. */
void check_name(const char *verb, const char *name);

/* "--opt VALUE" or "--opt=VALUE" at args[*i]; advances *i past it. */
bool opt_value(const char *verb, char **args, int n, int *i, const char *opt, const char **val);

void print_json(json_t *v);

/* The verbs that live in their own files. */
int cmd_start(int n, char **args); /* denalictl_start_stop.c */
int cmd_stop(int n, char **args);
int cmd_list(int n, char **args); /* denalictl_list.c */
int cmd_metrics(int n, char **args);
int cmd_stats(int n, char **args);
int cmd_swap(int n, char **args); /* denalictl_swap.c */
int cmd_net(int n, char **args);  /* denalictl_net.c */
int cmd_export(int n, char **args);
int cmd_import(int n, char **args);

#endif
