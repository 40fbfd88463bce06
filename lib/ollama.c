/* ollama.c - HTTP to Ollama through libcurl multi on the libuv loop.
 *
 * Why libcurl multi and not a thread per request: the loop already owns
 * every socket and timer of the daemon, and the model pool must count,
 * time out and cancel requests from the loop thread anyway. curl's multi
 * "socket" interface tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION
 * -> uv_poll) and when to call back (CURLMOPT_TIMERFUNCTION -> uv_timer);
 * curl_multi_socket_action then does the I/O without blocking. This is the
 * recipe of curl's docs/examples/multi-uv.c.
 *
 * Lifetime: a poll handle's memory is freed in its close callback; the
 * client itself is freed when its timer and every poll handle are closed.
 */
#include "rectify/ollama.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/log.h"
#include "rectify/net.h"

#define RF_OLLAMA_MAX_BODY (8 * 1024 * 1024)

typedef struct req req_t;

struct rf_ollama {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  char *base_url;
  req_t *reqs; /* pending, doubly linked */
  size_t n_reqs;
  int handles_open; /* timer + poll handles not yet closed */
  bool closing;
  void (*closed)(void *arg);
  void *closed_arg;
};

struct req {
  rf_ollama_t *o;
  CURL *easy;
  struct curl_slist *headers;
  char *body;
  rf_buf_t resp;
  bool too_big;
  uint64_t start_ns;
  char errbuf[CURL_ERROR_SIZE];
  rf_ollama_cb cb;
  void *arg;
  req_t *prev, *next;
};

typedef struct poll_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  rf_ollama_t *o;
} poll_ctx_t;

/* ---- URL guard ------------------------------------------------------------ */

int rf_ollama_url_check(const char *url, bool allow_remote, char *why, size_t whylen) {
  int rc = RF_EINVAL;
  char *scheme = NULL, *host = NULL;
  CURLU *u = curl_url();
  if (u == NULL) {
    snprintf(why, whylen, "out of memory");
    return RF_ENOMEM;
  }
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    snprintf(why, whylen, "model url '%s' is not a URL (expected http://HOST:PORT)", url);
    goto out;
  }
  if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
    snprintf(why, whylen, "model url '%s': scheme must be http or https", url);
    goto out;
  }
  if (!allow_remote && !rf_net_is_loopback_host(host)) {
    snprintf(why, whylen, "model url '%s': host %s is not a loopback address: row values would "
             "leave this host; set allow_remote = yes in [model] to allow it", url, host);
    rc = RF_EDENIED;
    goto out;
  }
  rc = 0;
out:
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

/* ---- loop glue -------------------------------------------------------------- */

static void maybe_freed(rf_ollama_t *o) {
  if (!o->closing || o->handles_open > 0)
    return;
  void (*closed)(void *) = o->closed;
  void *arg = o->closed_arg;
  curl_multi_cleanup(o->multi);
  rf_free(o->base_url);
  rf_free(o);
  if (closed)
    closed(arg);
}

static void on_handle_closed(uv_handle_t *h) {
  rf_ollama_t *o = h->data;
  if (h->type == UV_POLL)
    rf_free(h); /* poll_ctx_t starts with its uv_poll_t */
  o->handles_open--;
  maybe_freed(o);
}

static void finish(req_t *r, CURLcode cc) {
  rf_ollama_t *o = r->o;
  rf_ollama_reply_t rep = {0};
  rep.seconds = (double)(uv_hrtime() - r->start_ns) / 1e9;
  if (cc == CURLE_OK && r->too_big) {
    rep.status = RF_EPROTO;
    snprintf(rep.error, sizeof(rep.error), "response larger than %d bytes", RF_OLLAMA_MAX_BODY);
  } else if (cc == CURLE_OK && !rf_buf_ok(&r->resp)) {
    rep.status = RF_ENOMEM;
    snprintf(rep.error, sizeof(rep.error), "out of memory reading the response");
  } else if (cc == CURLE_OK) {
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &rep.http_status);
    rep.body = r->resp.data ? r->resp.data : "";
    rep.len = r->resp.len;
  } else {
    rep.status = cc == CURLE_OPERATION_TIMEDOUT ? RF_ETIMEDOUT
                 : cc == CURLE_OUT_OF_MEMORY   ? RF_ENOMEM
                 : (cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR ||
                    cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING ||
                    cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_PARTIAL_FILE)
                     ? RF_ECONN
                     : RF_EPROTO;
    snprintf(rep.error, sizeof(rep.error), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
  }
  if (r->prev)
    r->prev->next = r->next;
  else
    o->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  o->n_reqs--;
  curl_multi_remove_handle(o->multi, r->easy);
  r->cb(&rep, r->arg);
  curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->headers);
  rf_free(r->body);
  rf_buf_free(&r->resp);
  rf_free(r);
}

static void check_multi_info(rf_ollama_t *o) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(o->multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE)
      continue;
    req_t *r = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    finish(r, m->data.result);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  poll_ctx_t *p = (poll_ctx_t *)h;
  rf_ollama_t *o = p->o;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(o->multi, p->fd, flags, &running);
  check_multi_info(o);
}

static void on_timer(uv_timer_t *t) {
  rf_ollama_t *o = t->data;
  int running;
  curl_multi_socket_action(o->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_multi_info(o);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  rf_ollama_t *o = userp;
  (void)multi;
  if (timeout_ms < 0)
    uv_timer_stop(&o->timer);
  else
    uv_timer_start(&o->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp) {
  rf_ollama_t *o = userp;
  poll_ctx_t *p = socketp;
  (void)easy;
  if (action == CURL_POLL_REMOVE) {
    if (p) {
      uv_poll_stop(&p->poll);
      uv_close((uv_handle_t *)&p->poll, on_handle_closed);
      curl_multi_assign(o->multi, s, NULL);
    }
    return 0;
  }
  if (p == NULL) {
    if ((p = rf_calloc(1, sizeof(*p))) == NULL)
      return -1;
    p->fd = s;
    p->o = o;
    if (uv_poll_init_socket(o->loop, &p->poll, s) != 0) {
      rf_free(p);
      return -1;
    }
    p->poll.data = o;
    o->handles_open++;
    curl_multi_assign(o->multi, s, p);
  }
  int events = 0;
  if (action != CURL_POLL_OUT)
    events |= UV_READABLE;
  if (action != CURL_POLL_IN)
    events |= UV_WRITABLE;
  uv_poll_start(&p->poll, events, on_poll);
  return 0;
}

/* ---- requests ----------------------------------------------------------------- */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  req_t *r = userdata;
  size_t n = size * nmemb;
  if (r->resp.len + n > RF_OLLAMA_MAX_BODY) {
    r->too_big = true;
    return 0; /* aborts the transfer */
  }
  rf_buf_append(&r->resp, ptr, n);
  return rf_buf_ok(&r->resp) ? n : 0;
}

int rf_ollama_new(uv_loop_t *loop, const char *base_url, rf_ollama_t **out) {
  rf_ollama_t *o = rf_calloc(1, sizeof(*o));
  if (o == NULL || (o->base_url = rf_strdup(base_url)) == NULL) {
    rf_free(o);
    return RF_ENOMEM;
  }
  size_t n = strlen(o->base_url);
  while (n && o->base_url[n - 1] == '/')
    o->base_url[--n] = '\0';
  if ((o->multi = curl_multi_init()) == NULL) {
    rf_free(o->base_url);
    rf_free(o);
    return RF_EINTERNAL;
  }
  o->loop = loop;
  uv_timer_init(loop, &o->timer);
  o->timer.data = o;
  o->handles_open = 1;
  curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o);
  curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o);
  *out = o;
  return 0;
}

int rf_ollama_request(rf_ollama_t *o, const char *path, const char *body, long timeout_ms,
                      rf_ollama_cb cb, void *arg) {
  if (o->closing)
    return RF_ECLOSED;
  req_t *r = rf_calloc(1, sizeof(*r));
  rf_buf_t url = RF_BUF_INIT;
  if (r == NULL)
    return RF_ENOMEM;
  rf_buf_printf(&url, "%s%s", o->base_url, path);
  r->o = o;
  r->cb = cb;
  r->arg = arg;
  if (!rf_buf_ok(&url) || (body && (r->body = rf_strdup(body)) == NULL) ||
      (r->easy = curl_easy_init()) == NULL ||
      (r->headers = curl_slist_append(NULL, "Content-Type: application/json")) == NULL)
    goto nomem;
  CURL *e = r->easy;
  curl_easy_setopt(e, CURLOPT_URL, url.data);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
  /* Egress: exactly the configured endpoint. No proxy (not even from
   * http_proxy in the environment), no redirects, http(s) only. */
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "rectifyd/" RF_VERSION);
  if (body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
  }
  r->start_ns = uv_hrtime();
  if (curl_multi_add_handle(o->multi, e) != CURLM_OK)
    goto nomem;
  r->next = o->reqs;
  if (o->reqs)
    o->reqs->prev = r;
  o->reqs = r;
  o->n_reqs++;
  rf_buf_free(&url);
  return 0;
nomem:
  rf_buf_free(&url);
  if (r->easy)
    curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->headers);
  rf_free(r->body);
  rf_free(r);
  return RF_ENOMEM;
}

size_t rf_ollama_pending(const rf_ollama_t *o) { return o->n_reqs; }

void rf_ollama_close(rf_ollama_t *o, void (*closed)(void *arg), void *arg) {
  o->closing = true;
  o->closed = closed;
  o->closed_arg = arg;
  while (o->reqs) {
    req_t *r = o->reqs;
    o->reqs = r->next;
    if (o->reqs)
      o->reqs->prev = NULL;
    o->n_reqs--;
    curl_multi_remove_handle(o->multi, r->easy);
    rf_ollama_reply_t rep = {.status = RF_ECANCELED};
    snprintf(rep.error, sizeof(rep.error), "canceled: the client is closing");
    r->cb(&rep, r->arg);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    rf_free(r->body);
    rf_buf_free(&r->resp);
    rf_free(r);
  }
  uv_timer_stop(&o->timer);
  uv_close((uv_handle_t *)&o->timer, on_handle_closed);
}

/* ---- message shapes ------------------------------------------------------------ */

void rf_ollama_chat_body(rf_buf_t *out, const char *model, const char *system, const char *user,
                         const char *format_schema, int seed, const char *keep_alive) {
  rf_buf_puts(out, "{\"model\":");
  rf_buf_json_str(out, model, strlen(model));
  rf_buf_puts(out, ",\"messages\":[{\"role\":\"system\",\"content\":");
  rf_buf_json_str(out, system, strlen(system));
  rf_buf_puts(out, "},{\"role\":\"user\",\"content\":");
  rf_buf_json_str(out, user, strlen(user));
  rf_buf_puts(out, "}],\"stream\":false,\"format\":");
  rf_buf_puts(out, format_schema);
  rf_buf_printf(out, ",\"options\":{\"temperature\":0,\"seed\":%d},\"keep_alive\":", seed);
  rf_buf_json_str(out, keep_alive, strlen(keep_alive));
  rf_buf_puts(out, "}");
}

char *rf_ollama_chat_content(const char *body, size_t len, char *why, size_t whylen) {
  cJSON *root = cJSON_ParseWithLength(body, len);
  char *content = NULL;
  if (root == NULL) {
    snprintf(why, whylen, "the /api/chat response is not JSON");
    return NULL;
  }
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
  if (!cJSON_IsString(c))
    snprintf(why, whylen, "the /api/chat response has no message.content");
  else if ((content = rf_strdup(c->valuestring)) == NULL)
    snprintf(why, whylen, "out of memory");
  cJSON_Delete(root);
  return content;
}

void rf_ollama_embed_body(rf_buf_t *out, const char *model, const char *const *values,
                          const size_t *lens, size_t n, const char *keep_alive) {
  rf_buf_puts(out, "{\"model\":");
  rf_buf_json_str(out, model, strlen(model));
  rf_buf_puts(out, ",\"input\":[");
  for (size_t i = 0; i < n; i++) {
    if (i)
      rf_buf_puts(out, ",");
    if (values[i])
      rf_buf_json_str(out, values[i], lens[i]);
    else
      rf_buf_puts(out, "\"<null>\"");
  }
  rf_buf_puts(out, "],\"keep_alive\":");
  rf_buf_json_str(out, keep_alive, strlen(keep_alive));
  rf_buf_puts(out, "}");
}

int rf_ollama_embed_parse(const char *body, size_t len, size_t n, size_t max_dim, float **vecs,
                          size_t *dim, char *why, size_t whylen) {
  int rc = RF_EPROTO;
  float *out = NULL;
  size_t d = 0, i = 0;
  unsigned long failures = rf_alloc_failures();
  cJSON *root = cJSON_ParseWithLength(body, len);
  const cJSON *embs = cJSON_GetObjectItemCaseSensitive(root, "embeddings");
  const cJSON *e;
  *vecs = NULL;
  *dim = 0;
  if (root == NULL && rf_alloc_failures() != failures) {
    snprintf(why, whylen, "out of memory");
    return RF_ENOMEM;
  }
  if (root == NULL) {
    snprintf(why, whylen, "the /api/embed response is not JSON");
    goto out;
  }
  if (!cJSON_IsArray(embs)) {
    snprintf(why, whylen, "the /api/embed response has no `embeddings` list");
    goto out;
  }
  if ((size_t)cJSON_GetArraySize(embs) != n) {
    snprintf(why, whylen, "the /api/embed response has %d embeddings for %zu inputs",
             cJSON_GetArraySize(embs), n);
    goto out;
  }
  cJSON_ArrayForEach(e, embs) {
    size_t k = cJSON_IsArray(e) ? (size_t)cJSON_GetArraySize(e) : 0;
    if (i == 0) {
      d = k;
      if (d == 0 || d > max_dim) {
        snprintf(why, whylen, "the /api/embed response has vectors of dimension %zu "
                 "(expected 1..%zu)", d, max_dim);
        goto out;
      }
      if ((out = rf_calloc(n, d * sizeof(*out))) == NULL) {
        snprintf(why, whylen, "out of memory");
        rc = RF_ENOMEM;
        goto out;
      }
    }
    if (k != d) {
      snprintf(why, whylen, "the /api/embed response has embedding %zu of dimension %zu, "
               "not %zu", i, k, d);
      goto out;
    }
    size_t j = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, e) {
      if (!cJSON_IsNumber(x)) {
        snprintf(why, whylen, "the /api/embed response has a non-number in embedding %zu", i);
        goto out;
      }
      out[i * d + j++] = (float)x->valuedouble;
    }
    i++;
  }
  *vecs = out;
  *dim = d;
  out = NULL;
  rc = 0;
out:
  rf_free(out);
  cJSON_Delete(root);
  return rc;
}

void rf_ollama_error_text(const char *body, size_t len, char *out, size_t outlen) {
  cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
  if (cJSON_IsString(e))
    snprintf(out, outlen, "%s", e->valuestring);
  else
    snprintf(out, outlen, "%.*s", (int)(len < 200 ? len : 200), body ? body : "");
  for (char *p = out; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  cJSON_Delete(root);
}

static bool same_model(const char *listed, const char *want) {
  if (strcmp(listed, want) == 0)
    return true;
  size_t n = strlen(want);
  return strchr(want, ':') == NULL && strncmp(listed, want, n) == 0 &&
         strcmp(listed + n, ":latest") == 0;
}

int rf_ollama_find_model(const char *body, size_t len, const char *model, char **digest,
                         char *why, size_t whylen) {
  int rc = RF_EPROTO;
  cJSON *root = cJSON_ParseWithLength(body, len);
  const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
  rf_buf_t names = RF_BUF_INIT;
  *digest = NULL;
  if (!cJSON_IsArray(models)) {
    snprintf(why, whylen, "the /api/tags response has no `models` list");
    goto out;
  }
  const cJSON *m;
  cJSON_ArrayForEach(m, models) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(m, "model");
    const cJSON *dg = cJSON_GetObjectItemCaseSensitive(m, "digest");
    const char *n = cJSON_IsString(name) ? name->valuestring
                    : cJSON_IsString(mod) ? mod->valuestring
                                          : NULL;
    if (n == NULL)
      continue;
    if (same_model(n, model) || (cJSON_IsString(mod) && same_model(mod->valuestring, model))) {
      *digest = rf_strdup(cJSON_IsString(dg) ? dg->valuestring : "");
      rc = *digest ? 0 : RF_ENOMEM;
      goto out;
    }
    rf_buf_printf(&names, "%s%s", names.len ? ", " : "", n);
  }
  snprintf(why, whylen, "model '%s' is not available on the Ollama server (it has: %s); pull it "
           "with `ollama pull %s` or set [model] model", model, names.len ? names.data : "none",
           model);
  rc = RF_ENOTFOUND;
out:
  rf_buf_free(&names);
  cJSON_Delete(root);
  return rc;
}
