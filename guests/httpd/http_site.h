/*
 * The site an httpd VM serves: static files from its rofs disk, and the
 * dynamic pages standing in for Denali's dynamic content, /hello?name=...
 * and /hits (the VM's hit counter). Turns a parsed request into a reply
 * description; http_conn formats and sends it.
 */
#ifndef DENALI_HTTP_SITE_H
#define DENALI_HTTP_SITE_H

#include "http_cache.h"
#include "http_parse.h"

#include <denali/rofs.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_DYN_MAX   2048u /* bytes of a dynamic body */
#define HTTP_EXTRA_MAX (HTTP_TARGET_MAX + 64u)
#define HTTP_NAME_MAX  64u /* bytes of ?name= kept (after decoding) */

struct http_site {
	struct rofs *fs;	  /* NULL: no disk, every static path is 404 */
	struct http_cache *cache; /* NULL: file bodies are read from the disk each time */
	uint64_t hits;		  /* requests answered by the site (not parse errors) */
};

enum http_body_kind {
	HTTP_BODY_NONE,
	HTTP_BODY_MEM,	/* body[0, length) */
	HTTP_BODY_FILE, /* the file `file` of the site's rofs */
};

struct http_reply {
	int status;
	const char *content_type; /* NULL: no Content-Type */
	uint64_t length;	  /* Content-Length (of what GET would send) */
	int64_t last_modified;	  /* seconds; valid when has_last_modified */
	bool has_last_modified;
	bool no_store;		    /* Cache-Control: no-store (dynamic pages) */
	bool close;		    /* the connection must close after this */
	char extra[HTTP_EXTRA_MAX]; /* more header lines, each ending in CRLF */
	enum http_body_kind body;
	struct rofs_stat file;
	char mem[HTTP_DYN_MAX];
};

void http_site_init(struct http_site *site, struct rofs *fs);

/* Answer a parsed request (GET, HEAD or another method). */
void http_site_respond(struct http_site *site, const struct http_request *req,
		       struct http_reply *r);

/* A short text/plain error reply for `status`. */
void http_site_error(int status, struct http_reply *r);

/* The reason phrase of `status` ("Not Found"), "Unknown" for others. */
const char *http_status_text(int status);

/* Content-Type for a path from its extension (application/octet-stream). */
const char *http_content_type(const char *path, size_t len);

#endif /* DENALI_HTTP_SITE_H */
