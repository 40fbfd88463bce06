/* alert.c - Sev-1 webhook: a JSON POST with retries, on the thread pool. */
#include "rectify/alert.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/error.h"
#include "rectify/log.h"

typedef struct alert_job {
  uv_work_t req;
  char *url;
  char *body;
  int retries;
  long status;
  int attempts;
} alert_job_t;

static atomic_int pending;

static size_t discard(char *p, size_t size, size_t n, void *arg) {
  (void)p, (void)arg;
  return size * n;
}

static void post(uv_work_t *req) {
  alert_job_t *j = req->data;
  unsigned delay = 1;
  for (j->attempts = 1; j->attempts <= j->retries + 1; j->attempts++) {
    CURL *c = curl_easy_init();
    if (c == NULL)
      return;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    j->status = 0;
    if (rc == CURLE_OK)
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &j->status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    if (rc == CURLE_OK && j->status >= 200 && j->status < 300)
      return;
    if (j->attempts <= j->retries) {
      sleep(delay);
      delay = delay >= 32 ? 60 : delay * 2;
    }
  }
}

static void posted(uv_work_t *req, int status) {
  alert_job_t *j = req->data;
  if (status == 0 && j->status >= 200 && j->status < 300)
    rf_log(RF_LOG_NOTICE, "alert", "sent attempts=%d status=%ld", j->attempts, j->status);
  else
    rf_log(RF_LOG_ERR, "alert", "not delivered attempts=%d last_status=%ld url_set=yes",
           j->attempts - 1, j->status);
  rf_free(j->url);
  rf_free(j->body);
  rf_free(j);
  atomic_fetch_sub(&pending, 1);
}

int rf_alert_send(uv_loop_t *loop, const char *url, int retries, const char *instance,
                  const char *what) {
  alert_job_t *j = rf_calloc(1, sizeof(*j));
  rf_buf_t b = RF_BUF_INIT;
  if (j == NULL)
    return RF_ENOMEM;
  rf_buf_puts(&b, "{\"severity\":\"SEV1\",\"service\":\"rectifyd\",\"instance\":");
  rf_buf_json_str(&b, instance, strlen(instance));
  rf_buf_puts(&b, ",\"event\":");
  rf_buf_json_str(&b, what, strlen(what));
  rf_buf_printf(&b, ",\"time\":%lld}", (long long)time(NULL));
  j->url = rf_strdup(url);
  j->body = rf_buf_steal(&b);
  j->retries = retries;
  j->req.data = j;
  if (j->url == NULL || j->body == NULL || uv_queue_work(loop, &j->req, post, posted) != 0) {
    rf_free(j->url);
    rf_free(j->body);
    rf_free(j);
    return RF_ENOMEM;
  }
  atomic_fetch_add(&pending, 1);
  return 0;
}

int rf_alert_pending(void) { return atomic_load(&pending); }
