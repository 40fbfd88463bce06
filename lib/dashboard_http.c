/* dashboard_http.c - the dashboard's web server: routing, authentication,
 * CSRF defence, sessions.
 *
 * Why these defences, in this order, for a page that only listens on
 * loopback: any web page the person visits can make their browser send
 * requests to 127.0.0.1, and DNS rebinding can make those requests
 * same-origin to a hostile name. So:
 *   1. Host must be the address we listen on (defeats DNS rebinding);
 *   2. every request needs a token: "Authorization: Bearer TOKEN", or the
 *      session cookie the login page sets (HttpOnly, SameSite=Strict), else
 *      401;
 *   3. every POST from a browser must come from our own origin: a present
 *      Sec-Fetch-Site must be same-origin (or none: typed by the person), a
 *      present Origin must be ours; else 403;
 *   4. a POST authenticated by the cookie must also carry the session's CSRF
 *      token in X-CSRF-Token (the page has it in a <meta>); API POSTs must be
 *      application/json, which no cross-site form can send without a CORS
 *      preflight that we never answer.
 * The Bearer header is never sent by a browser on its own, so requests that
 * carry it are not forgeable and need no CSRF token.
 *
 * libmicrohttpd runs one internal polling thread; every handler (and so
 * every use of the dashboard's one PostgreSQL connection) runs on it.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dashboard_int.h"
#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/log.h"
#include "rectify/net.h"

#define MAX_BODY (256 * 1024)
#define MAX_SESSIONS 256
#define SESSION_SECONDS (12 * 3600)
#define COOKIE "rf_session"

typedef struct session {
  char sid[65];  /* "" = free slot */
  char csrf[65];
  char *actor;
  time_t expires;
} session_t;

struct rf_dash_server {
  rf_dashboard_t *d;
  struct MHD_Daemon *mhd;
  rf_dash_token_t *tokens;
  size_t n_tokens;
  session_t sessions[MAX_SESSIONS];
  int port;
  char hosts[3][80]; /* the Host values we answer to */
};

/* Per-request state: the body as it arrives. */
typedef struct req {
  rf_buf_t body;
  bool too_big;
} req_t;

/* ---- small helpers -------------------------------------------------------------- */

bool rf__dash_ct_equal(const char *a, size_t alen, const char *b, size_t blen) {
  unsigned char diff = alen != blen;
  size_t n = alen < blen ? alen : blen;
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool rf__dash_form_field(const char *body, size_t len, const char *name, rf_buf_t *out) {
  size_t nl = strlen(name);
  const char *p = body, *end = body + len;
  rf_buf_reset(out);
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(e - p));
    if (eq && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
      for (const char *q = eq + 1; q < e; q++) {
        if (*q == '+') {
          rf_buf_putc(out, ' ');
        } else if (*q == '%' && e - q >= 3 && hexval(q[1]) >= 0 && hexval(q[2]) >= 0) {
          rf_buf_putc(out, (char)(hexval(q[1]) * 16 + hexval(q[2])));
          q += 2;
        } else {
          rf_buf_putc(out, *q);
        }
      }
      if (out->data == NULL)
        rf_buf_puts(out, "");
      return true;
    }
    p = e + 1;
  }
  return false;
}

static void random_hex(char out[65]) {
  unsigned char b[32];
  if (RAND_bytes(b, sizeof(b)) != 1)
    abort(); /* no randomness: no sessions, and nothing safe to fall back to */
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hx[b[i] >> 4];
    out[2 * i + 1] = hx[b[i] & 15];
  }
  out[64] = '\0';
}

static const char *header(struct MHD_Connection *c, const char *name) {
  return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* ---- tokens ------------------------------------------------------------------------ */

void rf_dash_tokens_free(rf_dash_token_t *t, size_t n) {
  for (size_t i = 0; t && i < n; i++) {
    if (t[i].token) {
      memset(t[i].token, 0, strlen(t[i].token));
      rf_free(t[i].token);
    }
    rf_free(t[i].actor);
  }
  rf_free(t);
}

static bool actor_ok(const char *s, size_t n) {
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("._@-", s[i]))
      return false;
  return true;
}

int rf_dash_tokens_load(const char *path, rf_dash_token_t **out, size_t *n, char *errbuf,
                        size_t errlen) {
  *out = NULL;
  *n = 0;
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
    return RF_EIO;
  }
  rf_dash_token_t *t = NULL;
  size_t cnt = 0, cap = 0;
  int rc = 0, lineno = 0;
  char line[1024];
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 007)) {
    snprintf(errbuf, errlen, "%s: readable by others (mode %03o): chmod o-rwx it", path,
             (unsigned)(sb.st_mode & 0777));
    rc = RF_EDENIED;
    goto out;
  }
  while (fgets(line, sizeof(line), f)) {
    lineno++;
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
      line[--len] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == '\0' || *p == '#')
      continue;
    char *sp = p + strcspn(p, " \t");
    const char *actor = "operator", *tok = p;
    size_t alen = strlen(actor);
    if (*sp) {
      *sp = '\0';
      actor = p;
      alen = strlen(p);
      tok = sp + 1;
      while (*tok == ' ' || *tok == '\t')
        tok++;
    }
    size_t tl = strlen(tok);
    bool printable = tl >= 16;
    for (size_t i = 0; i < tl && printable; i++)
      printable = tok[i] > 0x20 && tok[i] < 0x7f;
    if (!actor_ok(actor, alen)) {
      snprintf(errbuf, errlen, "%s:%d: the actor must be 1-64 of [A-Za-z0-9._@-]", path, lineno);
      rc = RF_EPARSE;
      goto out;
    }
    if (!printable) {
      snprintf(errbuf, errlen,
               "%s:%d: expected \"ACTOR TOKEN\" or \"TOKEN\"; a token is at least 16 "
               "printable ASCII characters without spaces",
               path, lineno);
      rc = RF_EPARSE;
      goto out;
    }
    for (size_t i = 0; i < cnt; i++)
      if (strcmp(t[i].token, tok) == 0) {
        snprintf(errbuf, errlen, "%s:%d: the same token is given twice", path, lineno);
        rc = RF_EPARSE;
        goto out;
      }
    if (cnt == cap) {
      size_t nc = cap ? cap * 2 : 4;
      rf_dash_token_t *nt = rf_realloc(t, nc * sizeof(*nt));
      if (nt == NULL) {
        rc = RF_ENOMEM;
        goto out;
      }
      t = nt;
      cap = nc;
    }
    t[cnt].actor = rf_strndup(actor, alen);
    t[cnt].token = rf_strdup(tok);
    cnt++;
    if (t[cnt - 1].actor == NULL || t[cnt - 1].token == NULL) {
      rc = RF_ENOMEM;
      goto out;
    }
  }
  if (rc == 0 && cnt == 0) {
    snprintf(errbuf, errlen, "%s: no token in the file", path);
    rc = RF_EPARSE;
  }
out:
  memset(line, 0, sizeof(line));
  fclose(f);
  if (rc) {
    if (rc == RF_ENOMEM)
      snprintf(errbuf, errlen, "out of memory");
    rf_dash_tokens_free(t, cnt);
    return rc;
  }
  *out = t;
  *n = cnt;
  return 0;
}

/* ---- responses ----------------------------------------------------------------------- */

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *type,
                                const char *body, size_t len, const char *cookie,
                                const char *location) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  /* Not no-referrer: with it, browsers send "Origin: null" on form POSTs,
   * which the origin check must (and does) refuse. */
  MHD_add_response_header(r, "Referrer-Policy", "same-origin");
  MHD_add_response_header(r, "Content-Security-Policy",
                          "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self'; connect-src 'self'; form-action 'self'; "
                          "frame-ancestors 'none'; base-uri 'none'");
  if (status == 401)
    MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"rectify\"");
  if (cookie)
    MHD_add_response_header(r, "Set-Cookie", cookie);
  if (location)
    MHD_add_response_header(r, "Location", location);
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, const cJSON *doc) {
  char *txt = cJSON_PrintUnformatted(doc);
  if (txt == NULL)
    return send_buf(c, 500, "application/json", "{\"error\":\"out of memory\"}", 26, NULL, NULL);
  enum MHD_Result r = send_buf(c, status, "application/json", txt, strlen(txt), NULL, NULL);
  cJSON_free(txt);
  return r;
}

static enum MHD_Result send_json_error(struct MHD_Connection *c, int status, const char *msg) {
  cJSON *o = cJSON_CreateObject();
  if (o)
    cJSON_AddStringToObject(o, "error", msg);
  enum MHD_Result r = o ? send_json(c, status, o)
                        : send_buf(c, 500, "application/json", "{}", 2, NULL, NULL);
  cJSON_Delete(o);
  return r;
}

static enum MHD_Result send_html(struct MHD_Connection *c, int status, rf_buf_t *b,
                                 const char *cookie) {
  if (!rf_buf_ok(b))
    return send_buf(c, 500, "text/plain", "out of memory\n", 14, NULL, NULL);
  return send_buf(c, status, "text/html; charset=utf-8", b->data, b->len, cookie, NULL);
}

/* ---- sessions and auth -------------------------------------------------------------------- */

typedef struct who {
  const char *actor;  /* NULL: not authenticated */
  session_t *session; /* when authenticated by the cookie */
} who_t;

static session_t *session_find(rf_dash_server_t *s, const char *sid) {
  time_t now = time(NULL);
  if (sid == NULL || strlen(sid) != 64)
    return NULL;
  for (int i = 0; i < MAX_SESSIONS; i++) {
    session_t *x = &s->sessions[i];
    if (x->sid[0] == '\0')
      continue;
    if (x->expires < now) {
      rf_free(x->actor);
      memset(x, 0, sizeof(*x));
      continue;
    }
    if (rf__dash_ct_equal(x->sid, 64, sid, 64))
      return x;
  }
  return NULL;
}

static session_t *session_new(rf_dash_server_t *s, const char *actor) {
  session_t *slot = NULL;
  time_t now = time(NULL);
  for (int i = 0; i < MAX_SESSIONS && slot == NULL; i++)
    if (s->sessions[i].sid[0] == '\0' || s->sessions[i].expires < now)
      slot = &s->sessions[i];
  if (slot == NULL) { /* full: evict the one closest to expiry */
    slot = &s->sessions[0];
    for (int i = 1; i < MAX_SESSIONS; i++)
      if (s->sessions[i].expires < slot->expires)
        slot = &s->sessions[i];
  }
  rf_free(slot->actor);
  memset(slot, 0, sizeof(*slot));
  if ((slot->actor = rf_strdup(actor)) == NULL)
    return NULL;
  random_hex(slot->sid);
  random_hex(slot->csrf);
  slot->expires = now + SESSION_SECONDS;
  return slot;
}

static const char *token_actor(rf_dash_server_t *s, const char *tok) {
  const char *found = NULL;
  size_t tl = strlen(tok);
  for (size_t i = 0; i < s->n_tokens; i++) /* no early exit: constant time per token */
    if (rf__dash_ct_equal(s->tokens[i].token, strlen(s->tokens[i].token), tok, tl))
      found = s->tokens[i].actor;
  return found;
}

static who_t authenticate(rf_dash_server_t *s, struct MHD_Connection *c) {
  who_t w = {NULL, NULL};
  const char *auth = header(c, "Authorization");
  if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
    w.actor = token_actor(s, auth + 7);
    return w;
  }
  const char *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
  session_t *x = session_find(s, sid);
  if (x) {
    w.actor = x->actor;
    w.session = x;
  }
  return w;
}

/* Host is one of ours (defeats DNS rebinding). */
static bool host_ok(rf_dash_server_t *s, struct MHD_Connection *c) {
  const char *h = header(c, "Host");
  if (h == NULL)
    return false;
  for (int i = 0; i < 3; i++)
    if (strcasecmp(h, s->hosts[i]) == 0)
      return true;
  return false;
}

/* A POST from a browser comes from our own origin. NULL when fine, else why. */
static const char *cross_site(struct MHD_Connection *c) {
  const char *sfs = header(c, "Sec-Fetch-Site");
  if (sfs && strcmp(sfs, "same-origin") != 0 && strcmp(sfs, "none") != 0)
    return "cross-site request refused (Sec-Fetch-Site)";
  const char *origin = header(c, "Origin");
  if (origin) {
    const char *h = header(c, "Host");
    char want[128];
    snprintf(want, sizeof(want), "http://%s", h ? h : "");
    if (strcasecmp(origin, want) != 0)
      return "cross-site request refused (Origin)";
  }
  return NULL;
}

/* ---- routing ------------------------------------------------------------------------------- */

static const char *arg(struct MHD_Connection *c, const char *name) {
  return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static long arg_page(struct MHD_Connection *c) {
  const char *p = arg(c, "page");
  long v = p ? strtol(p, NULL, 10) : 0;
  return v < 0 ? 0 : v > 100000 ? 100000 : v;
}

static enum MHD_Result view_status(struct MHD_Connection *c, bool api, rf_dash_status_t *st,
                                   const rf_dash_page_ctx_t *pc) {
  if (api)
    return send_json_error(c, st->http ? st->http : 500, st->message);
  rf_buf_t b = RF_BUF_INIT;
  rf__dash_page_error(&b, pc, st->http ? st->http : 500, st->message);
  enum MHD_Result r = send_html(c, st->http ? st->http : 500, &b, NULL);
  rf_buf_free(&b);
  return r;
}

/* GET views: the same document as JSON (/api/...) or as a page. */
static enum MHD_Result get_view(rf_dash_server_t *s, struct MHD_Connection *c, const char *path,
                                const rf_dash_page_ctx_t *pc) {
  bool api = strncmp(path, "/api/", 5) == 0;
  const char *v = api ? path + 4 : path;
  cJSON *doc = NULL;
  rf_dash_status_t st;
  int rc;
  enum { V_OVERVIEW, V_CLUSTERS, V_CLUSTER, V_ROW } kind;
  if (strcmp(v, "/") == 0 || strcmp(v, "/overview") == 0) {
    kind = V_OVERVIEW;
    rc = rf_dashboard_overview(s->d, &doc, &st);
  } else if (strcmp(v, "/clusters") == 0) {
    kind = V_CLUSTERS;
    rf_dash_filter_t f = {arg(c, "table"), arg(c, "column"), arg(c, "reason"), arg_page(c)};
    rc = rf_dashboard_clusters(s->d, &f, &doc, &st);
  } else if (strcmp(v, "/cluster") == 0) {
    kind = V_CLUSTER;
    rc = rf_dashboard_cluster(s->d, arg(c, "table"), arg(c, "column"), arg(c, "fp"), arg_page(c),
                              &doc, &st);
  } else if (strcmp(v, "/row") == 0) {
    kind = V_ROW;
    rc = rf_dashboard_row(s->d, arg(c, "key"), &doc, &st);
  } else {
    st.http = 404;
    snprintf(st.message, sizeof(st.message), "no page at %s", path);
    return view_status(c, api, &st, pc);
  }
  if (rc)
    return view_status(c, api, &st, pc);
  enum MHD_Result r;
  if (api) {
    r = send_json(c, 200, doc);
  } else {
    rf_buf_t b = RF_BUF_INIT;
    switch (kind) {
    case V_OVERVIEW: rf__dash_page_overview(&b, pc, doc); break;
    case V_CLUSTERS: rf__dash_page_clusters(&b, pc, doc); break;
    case V_CLUSTER: rf__dash_page_cluster(&b, pc, doc); break;
    case V_ROW: rf__dash_page_row(&b, pc, doc); break;
    }
    r = send_html(c, 200, &b, NULL);
    rf_buf_free(&b);
  }
  cJSON_Delete(doc);
  return r;
}

static const char *jget(const cJSON *o, const char *k) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* POST /api/<action> with a JSON body. */
static enum MHD_Result post_action(rf_dash_server_t *s, struct MHD_Connection *c, const char *path,
                                   const char *actor, const rf_buf_t *body) {
  cJSON *in = body->len ? cJSON_ParseWithLength(body->data, body->len) : NULL;
  if (in == NULL || !cJSON_IsObject(in)) {
    cJSON_Delete(in);
    return send_json_error(c, 400, "the body must be a JSON object");
  }
  cJSON *doc = NULL;
  rf_dash_status_t st;
  memset(&st, 0, sizeof(st));
  int rc;
  const char *key = jget(in, "key");
  if (strcmp(path, "/api/resolve") == 0) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "value");
    if (!cJSON_IsString(v) && !cJSON_IsNull(v)) {
      rc = rf__dash_fail(&st, RF_EINVAL, 400, "value must be a string or null");
    } else {
      rc = rf_dashboard_resolve(s->d, actor, key, cJSON_IsNull(v) ? NULL : v->valuestring, &st);
    }
  } else if (strcmp(path, "/api/discard") == 0) {
    rc = rf_dashboard_discard(s->d, actor, key, jget(in, "reason"), &st);
  } else if (strcmp(path, "/api/requeue") == 0) {
    rc = rf_dashboard_requeue(s->d, actor, key, &st);
  } else if (strcmp(path, "/api/preview") == 0) {
    rc = rf_dashboard_preview(s->d, jget(in, "table"), jget(in, "column"), jget(in, "fingerprint"),
                              jget(in, "lambda"), &doc, &st);
  } else if (strcmp(path, "/api/apply") == 0) {
    rc = rf_dashboard_apply(s->d, actor, jget(in, "table"), jget(in, "column"),
                            jget(in, "fingerprint"), jget(in, "lambda"), jget(in, "digest"), &doc,
                            &st);
  } else if (strcmp(path, "/api/verify") == 0) {
    rc = rf_dashboard_verify(s->d, &doc, &st);
  } else {
    cJSON_Delete(in);
    return send_json_error(c, 404, "no such action");
  }
  if ((strcmp(path, "/api/resolve") == 0 || strcmp(path, "/api/discard") == 0 ||
       strcmp(path, "/api/requeue") == 0) && key == NULL && rc == 0)
    rc = rf__dash_fail(&st, RF_EINVAL, 400, "key is missing");
  cJSON_Delete(in);
  enum MHD_Result r;
  if (rc) {
    r = send_json_error(c, st.http ? st.http : 500, st.message);
  } else {
    if (doc == NULL && (doc = cJSON_CreateObject()) != NULL) {
      cJSON_AddBoolToObject(doc, "ok", 1);
      cJSON_AddStringToObject(doc, "message", st.message[0] ? st.message : "done");
    }
    r = doc ? send_json(c, 200, doc) : send_json_error(c, 500, "out of memory");
  }
  cJSON_Delete(doc);
  return r;
}

static enum MHD_Result login(rf_dash_server_t *s, struct MHD_Connection *c, const rf_buf_t *body) {
  rf_buf_t tok = RF_BUF_INIT, page = RF_BUF_INIT;
  enum MHD_Result r;
  const char *why = cross_site(c);
  if (why) {
    rf__dash_page_login(&page, why);
    r = send_html(c, 403, &page, NULL);
    goto out;
  }
  const char *actor = NULL;
  if (body->len && rf__dash_form_field(body->data, body->len, "token", &tok) && rf_buf_ok(&tok))
    actor = token_actor(s, tok.data ? tok.data : "");
  if (actor == NULL) {
    rf_log(RF_LOG_NOTICE, "dashboard", "login refused");
    rf__dash_page_login(&page, "That token is not valid.");
    r = send_html(c, 401, &page, NULL);
    goto out;
  }
  session_t *x = session_new(s, actor);
  if (x == NULL) {
    r = send_buf(c, 500, "text/plain", "out of memory\n", 14, NULL, NULL);
    goto out;
  }
  char cookie[200];
  snprintf(cookie, sizeof(cookie), COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d",
           x->sid, SESSION_SECONDS);
  rf_log(RF_LOG_NOTICE, "dashboard", "login actor=%s", actor);
  r = send_buf(c, 303, "text/plain", "", 0, cookie, "/");
out:
  if (tok.data)
    memset(tok.data, 0, tok.len);
  rf_buf_free(&tok);
  rf_buf_free(&page);
  return r;
}

static enum MHD_Result handle(rf_dash_server_t *s, struct MHD_Connection *c, const char *url,
                              const char *method, const rf_buf_t *body) {
  bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  bool post = strcmp(method, "POST") == 0;
  bool api = strncmp(url, "/api/", 5) == 0;
  if (!host_ok(s, c))
    return send_buf(c, 421, "text/plain", "unknown Host\n", 13, NULL, NULL);
  if (!get && !post)
    return send_buf(c, 405, "text/plain", "method not allowed\n", 19, NULL, NULL);
  /* Public: the login page and the static files it needs. */
  const char *type = NULL, *asset = NULL;
  size_t alen = 0;
  if (get && rf__dash_asset(url, &type, &asset, &alen))
    return send_buf(c, 200, type, asset, alen, NULL, NULL);
  if (strcmp(url, "/login") == 0) {
    if (post)
      return login(s, c, body);
    rf_buf_t page = RF_BUF_INIT;
    rf__dash_page_login(&page, NULL);
    enum MHD_Result r = send_html(c, 200, &page, NULL);
    rf_buf_free(&page);
    return r;
  }
  who_t w = authenticate(s, c);
  if (w.actor == NULL) {
    if (api)
      return send_json_error(c, 401, "authentication required: a token (Bearer) or a session");
    rf_buf_t page = RF_BUF_INIT;
    rf__dash_page_login(&page, NULL);
    enum MHD_Result r = send_html(c, 401, &page, NULL);
    rf_buf_free(&page);
    return r;
  }
  rf_dash_page_ctx_t pc = {w.actor, w.session ? w.session->csrf : ""};
  if (get)
    return get_view(s, c, url, &pc);
  /* POST: same origin, and a CSRF token with the cookie. */
  const char *why = cross_site(c);
  if (why)
    return api ? send_json_error(c, 403, why) : send_buf(c, 403, "text/plain", why, strlen(why), NULL, NULL);
  if (strcmp(url, "/logout") == 0) {
    if (w.session) {
      rf_free(w.session->actor);
      memset(w.session, 0, sizeof(*w.session));
    }
    return send_buf(c, 303, "text/plain", "", 0,
                    COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0", "/login");
  }
  if (!api)
    return send_buf(c, 404, "text/plain", "not found\n", 10, NULL, NULL);
  if (w.session) {
    const char *t = header(c, "X-CSRF-Token");
    if (t == NULL || !rf__dash_ct_equal(t, strlen(t), w.session->csrf, 64))
      return send_json_error(c, 403, "missing or wrong CSRF token: reload the page");
  }
  const char *ct = header(c, "Content-Type");
  if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0)
    return send_json_error(c, 415, "actions take application/json");
  return post_action(s, c, url, w.actor, body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **state) {
  rf_dash_server_t *s = cls;
  (void)version;
  req_t *rq = *state;
  if (rq == NULL) {
    if ((rq = rf_calloc(1, sizeof(*rq))) == NULL)
      return MHD_NO;
    *state = rq;
    return MHD_YES;
  }
  if (*upload_size) {
    if (rq->body.len + *upload_size > MAX_BODY)
      rq->too_big = true;
    else
      rf_buf_append(&rq->body, upload_data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (rq->too_big)
    return send_buf(c, 413, "text/plain", "request body too large\n", 23, NULL, NULL);
  if (!rf_buf_ok(&rq->body))
    return send_buf(c, 500, "text/plain", "out of memory\n", 14, NULL, NULL);
  return handle(s, c, url, method, &rq->body);
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
                    enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  req_t *rq = *state;
  if (rq) {
    rf_buf_free(&rq->body);
    rf_free(rq);
    *state = NULL;
  }
}

static void on_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  (void)cls;
  vsnprintf(msg, sizeof(msg), fmt, ap);
  rf_log(RF_LOG_WARN, "dashboard", "libmicrohttpd: %s", msg);
}

int rf_dash_serve(rf_dashboard_t *d, const char *listen, rf_dash_token_t *tokens, size_t n,
                  rf_dash_server_t **out, char *errbuf, size_t errlen) {
  struct sockaddr_storage addr;
  socklen_t len;
  *out = NULL;
  if (n == 0) {
    snprintf(errbuf, errlen, "no token: the dashboard never runs without authentication");
    return RF_EINVAL;
  }
  int rc = rf_net_parse_loopback_listen(listen, &addr, &len, errbuf, errlen);
  if (rc)
    return rc;
  rf_dash_server_t *s = rf_calloc(1, sizeof(*s));
  if (s == NULL)
    return RF_ENOMEM;
  s->d = d;
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  if (addr.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  uint16_t port = addr.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&addr)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&addr)->sin_port);
  s->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                            on_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
                            MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                            MHD_OPTION_END);
  if (s->mhd == NULL) {
    snprintf(errbuf, errlen, "cannot listen on %s (address in use?)", listen);
    rf_free(s);
    return RF_EIO;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : port;
  char ip[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, ip, sizeof(ip));
  else
    inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, ip, sizeof(ip));
  snprintf(s->hosts[0], sizeof(s->hosts[0]), addr.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip,
           s->port);
  snprintf(s->hosts[1], sizeof(s->hosts[1]), "localhost:%d", s->port);
  snprintf(s->hosts[2], sizeof(s->hosts[2]), "%s", s->hosts[0]);
  s->tokens = tokens;
  s->n_tokens = n;
  rf_log(RF_LOG_NOTICE, "dashboard", "serving listen=%s port=%d chain=%s tokens=%zu", listen,
         s->port, rf_dashboard_chain_id(d), n);
  *out = s;
  return 0;
}

int rf_dash_server_port(const rf_dash_server_t *s) { return s->port; }

void rf_dash_server_stop(rf_dash_server_t *s) {
  if (s == NULL)
    return;
  MHD_stop_daemon(s->mhd);
  for (int i = 0; i < MAX_SESSIONS; i++)
    rf_free(s->sessions[i].actor);
  rf_dash_tokens_free(s->tokens, s->n_tokens);
  rf_free(s);
}
