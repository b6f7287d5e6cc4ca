/* http.h - HTTP/1.1 request text and an incremental response parser.
 *
 * The parser is fed whatever read() returned and keeps only a short line buffer per connection,
 * so 10,000 idle connections cost little. It understands Content-Length, chunked bodies,
 * bodies delimited by close, interim 1xx responses and Connection: close / keep-alive.
 */
#ifndef DENALI_LOAD_HTTP_H
#define DENALI_LOAD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_LINE_MAX	      96
#define HTTP_HEADER_BYTES_MAX 65536

enum http_result {
	HTTP_MORE = 0, /* response incomplete: feed more bytes */
	HTTP_DONE,     /* one full response parsed */
	HTTP_ERROR,    /* malformed response: close the connection */
};

struct http_parser {
	uint8_t state;
	uint8_t keep_alive;
	uint8_t chunked;
	uint8_t has_length;
	uint16_t status;
	uint16_t line_len;
	uint32_t header_bytes;
	uint64_t remaining;
	char line[HTTP_LINE_MAX];
};

/* Format "GET path HTTP/1.1" with a Host header into buf. Returns the length, or -ENOSPC. */
int http_request_format(char *buf, size_t size, const char *host, const char *path);

/* Make the parser ready for the next response on a connection. */
void http_parser_reset(struct http_parser *p);

/* Feed len bytes; *used says how many were consumed (less than len only on HTTP_DONE, when the
 * rest belongs to whatever follows the response). */
enum http_result http_parse(struct http_parser *p, const char *data, size_t len, size_t *used);

/* The peer closed the connection: finishes a close-delimited body (HTTP_DONE), else the
 * response is truncated (HTTP_ERROR). */
enum http_result http_parse_eof(struct http_parser *p);

/* True if nothing of a response has been seen since the last reset. */
int http_parser_idle(const struct http_parser *p);

#endif
