/* ollama.h - a small Ollama HTTP client on the libuv loop (libcurl multi).
 *
 * Requests run through one CURLM whose sockets and timer live on the loop
 * (uv_poll / uv_timer, as in curl's docs/examples/multi-uv.c): nothing
 * blocks the loop thread. The client never follows redirects and never uses
 * a proxy (not even from the environment), so a request goes to the
 * configured endpoint and nowhere else; rf_ollama_url_check is the egress
 * guard that decides whether that endpoint may be non-loopback.
 *
 * API shapes (Ollama docs/api.md): POST /api/chat with stream:false and a
 * JSON-schema `format`; POST /api/embed {"model", "input": [strings]} ->
 * {"model", "embeddings": [[floats], ...]} (one per input, in order);
 * GET /api/version; GET /api/tags; errors are {"error": "..."} with an HTTP
 * status.
 *
 * Callback rule (libuv's): rf_ollama_request() that returns 0 calls its
 * callback exactly once, never before returning; one that fails never calls
 * it. rf_ollama_close() completes pending requests with RF_ECANCELED.
 * All functions run on the loop thread.
 */
#ifndef RECTIFY_OLLAMA_H
#define RECTIFY_OLLAMA_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "rectify/buf.h"

typedef struct rf_ollama rf_ollama_t;

typedef struct rf_ollama_reply {
  int status;         /* 0: an HTTP response arrived (see http_status); else RF_ETIMEDOUT,
                         RF_ECONN (refused, reset, ...), RF_EPROTO, RF_ENOMEM, RF_ECANCELED */
  long http_status;   /* when status == 0 */
  const char *body;   /* borrowed for the callback's duration; NUL-terminated */
  size_t len;
  double seconds;     /* wall time of the request */
  char error[256];    /* when status != 0: what went wrong, one line */
} rf_ollama_reply_t;

typedef void (*rf_ollama_cb)(const rf_ollama_reply_t *r, void *arg);

/* Checks a model URL: http or https, a host, and (unless allow_remote) a host
 * that resolves only to loopback addresses. 0, or RF_EINVAL / RF_EDENIED
 * with why filled ("... is not a loopback address: row values would leave
 * this host; set allow_remote = yes in [model] to allow it"). */
int rf_ollama_url_check(const char *url, bool allow_remote, char *why, size_t whylen);

/* A client for base_url (copied; e.g. "http://127.0.0.1:11434"). 0 or
 * RF_ENOMEM / RF_EINTERNAL. curl_global_init must have run. */
int rf_ollama_new(uv_loop_t *loop, const char *base_url, rf_ollama_t **out);
/* Starts GET (body == NULL) or POST (JSON body, copied) of base_url + path
 * with a timeout. 0 or RF_ENOMEM / RF_ECLOSED. */
int rf_ollama_request(rf_ollama_t *o, const char *path, const char *body, long timeout_ms,
                      rf_ollama_cb cb, void *arg);
/* Requests in flight. */
size_t rf_ollama_pending(const rf_ollama_t *o);
/* Cancels what is pending (RF_ECANCELED), closes the loop handles and frees
 * the client; closed(arg) runs when it is gone (may be NULL). */
void rf_ollama_close(rf_ollama_t *o, void (*closed)(void *arg), void *arg);

/* The body of a POST /api/chat: model, system + user messages, stream false,
 * format (a JSON schema, inserted as JSON), options {temperature 0, seed},
 * keep_alive. Appends to out; check rf_buf_ok. */
void rf_ollama_chat_body(rf_buf_t *out, const char *model, const char *system, const char *user,
                         const char *format_schema, int seed, const char *keep_alive);
/* The assistant's message.content of a /api/chat response (new string), or
 * NULL with why filled. */
char *rf_ollama_chat_content(const char *body, size_t len, char *why, size_t whylen);
/* The body of a POST /api/embed: {"model": model, "input": [values...],
 * "keep_alive": keep_alive}; values[i] == NULL (SQL null) is sent as the
 * string "<null>". Appends to out; check rf_buf_ok. */
void rf_ollama_embed_body(rf_buf_t *out, const char *model, const char *const *values,
                          const size_t *lens, size_t n, const char *keep_alive);
/* Parses a /api/embed response that must hold exactly n embeddings of one
 * common dimension (at most max_dim). Returns 0 with *vecs (new array of
 * n * *dim floats, the caller frees it with rf_free) and *dim, RF_EPROTO with
 * why filled (not JSON, no `embeddings`, wrong count, ragged or non-numeric
 * vectors, dimension 0 or above max_dim) or RF_ENOMEM. */
int rf_ollama_embed_parse(const char *body, size_t len, size_t n, size_t max_dim, float **vecs,
                          size_t *dim, char *why, size_t whylen);
/* The "error" text of an error response, or the start of the body. */
void rf_ollama_error_text(const char *body, size_t len, char *out, size_t outlen);
/* Looks model up in a /api/tags response ("name" or "model"; "x" also matches
 * "x:latest"). Returns 0 and *digest (new string, "" when the listing has
 * none), RF_ENOTFOUND with the available names in why, or RF_EPROTO. */
int rf_ollama_find_model(const char *body, size_t len, const char *model, char **digest,
                         char *why, size_t whylen);

#endif
