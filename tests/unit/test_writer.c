/* test_writer.c - the writer's logic that needs no database: COPY and array
 * escaping, the COPY row + leaf builder (golden files), the malformed-row
 * conversion, chain entries and links, the heads file, allocation failures on
 * the row-building path, and the thread's lifecycle with an unreachable
 * database (nothing handed back early, RF_ECANCELED at close). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rectify/alloc.h"
#include "rectify/audit.h"
#include "rectify/error.h"
#include "rectify/json.h"
#include "rectify/pg.h"
#include "rectify/receipt.h"
#include "rectify/writer.h"

static void test_copy_text_escaping(void **state) {
  (void)state;
  struct {
    const char *in, *out;
  } cases[] = {
      {"plain", "plain"},
      {"", ""},
      {"a\tb", "a\\tb"},
      {"line1\nline2\r\n", "line1\\nline2\\r\\n"},
      {"back\\slash", "back\\\\slash"},
      {"\\N", "\\\\N"}, /* the text "\N" must not become NULL */
      {"\b\f\v", "\\b\\f\\v"},
      {"caf\xc3\xa9 \"q\" '", "caf\xc3\xa9 \"q\" '"},
      {"\x01\x7f", "\x01\x7f"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    rf_buf_t b = RF_BUF_INIT;
    rf_pg_copy_text(&b, cases[i].in);
    assert_string_equal(b.data, cases[i].out);
    rf_buf_free(&b);
  }
  rf_buf_t b = RF_BUF_INIT;
  rf_pg_copy_text(&b, NULL);
  assert_string_equal(b.data, "\\N");
  rf_buf_reset(&b);
  rf_pg_copy_bytea(&b, "\x00\xff\\", 3);
  assert_string_equal(b.data, "\\\\x00ff5c");
  rf_buf_reset(&b);
  rf_pg_copy_bytea(&b, "", 0);
  assert_string_equal(b.data, "");
  rf_buf_reset(&b);
  /* mostly printable: the escape form, each of its backslashes doubled for COPY */
  rf_pg_copy_bytea(&b, "ab\\c\n", 5);
  assert_string_equal(b.data, "ab\\\\\\\\c\\\\012");
  rf_buf_reset(&b);
  rf_pg_copy_bytea(&b, "{\"k\":1}\x01\xfe", 9);
  assert_string_equal(b.data, "{\"k\":1}\\\\001\\\\376");
  rf_buf_reset(&b);
  rf_pg_copy_bytea(&b, NULL, 0);
  assert_string_equal(b.data, "\\N");
  rf_buf_free(&b);
}

static void test_array_escaping(void **state) {
  (void)state;
  rf_buf_t b = RF_BUF_INIT;
  rf_buf_putc(&b, '{');
  rf_pg_array_elem(&b, "a");
  rf_buf_putc(&b, ',');
  rf_pg_array_elem(&b, "with \"quote\" and \\ and , and {}");
  rf_buf_putc(&b, ',');
  rf_pg_array_elem(&b, "NULL");
  rf_buf_putc(&b, ',');
  rf_pg_array_elem(&b, NULL);
  rf_buf_putc(&b, ',');
  rf_pg_array_elem(&b, "");
  rf_buf_putc(&b, '}');
  assert_string_equal(b.data,
                      "{\"a\",\"with \\\"quote\\\" and \\\\ and , and {}\",\"NULL\",NULL,\"\"}");
  rf_buf_free(&b);
}

static void outcome(rf_outcome_t *o, rf_outcome_kind_t kind) {
  memset(o, 0, sizeof(*o));
  o->kind = kind;
  o->key = rf_strdup("orders:42");
  o->source = rf_strdup("redis:needs_ai");
  o->source_id = rf_strdup("1700000000000-0");
  o->table_name = rf_strdup("orders");
  o->column_name = rf_strdup("order_date");
  o->pk_json = rf_strdup("{\"id\":42}");
  o->pk_hash = rf_strdup("6b51d431df5d7f141cbececcf79edf3dd861c3b4069f0b11661a3eefacbba918");
  o->old_value = rf_strdup("03/02/2024\ttab\\slash");
  o->new_value = kind == RF_OUTCOME_FIXED ? rf_strdup("2024-02-03") : NULL;
  o->row_json = rf_strdup("{\"id\":42,\"order_date\":\"03/02/2024\"}");
  o->fingerprint = rf_strdup("9/9/9999");
  o->lambda_src = rf_strdup("lambda x: x");
  o->generator = rf_strdup("synth");
  o->confidence = 0.5;
  o->has_confidence = true;
  if (kind == RF_OUTCOME_QUARANTINED) {
    o->reason = rf_strdup("invalid_output");
    o->detail = rf_strdup("line\nbreak");
    o->model_answer = rf_strdup("lambda x: x");
  }
  o->raw = rf_memdup("{\"raw\":1}\n", 10);
  o->raw_len = 10;
  o->ts_us = 1764318000000001;
}

static void golden_bytes(const char *name, const void *got, size_t len) {
  char path[512];
  snprintf(path, sizeof(path), "%s/audit/%s", RF_TEST_DATA, name);
  if (getenv("RF_UPDATE_GOLDEN")) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(got, 1, len, f), len);
    fclose(f);
  }
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char want[8192];
  size_t n = fread(want, 1, sizeof(want), f);
  fclose(f);
  assert_int_equal(n, len);
  assert_memory_equal(got, want, len);
}

static void golden(const char *name, const char *got) { golden_bytes(name, got, strlen(got)); }

/* Reads field i of a binary COPY tuple (after its 16-bit field count):
 * *len is -1 for NULL. */
static const unsigned char *bin_field(const unsigned char *row, int i, long *len) {
  const unsigned char *p = row + 2;
  for (;;) {
    uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *len = n == UINT32_MAX ? -1 : (long)n;
    if (i-- == 0)
      return p + 4;
    p += 4 + (n == UINT32_MAX ? 0 : n);
  }
}

static void test_copy_row(void **state) {
  (void)state;
  for (int k = 0; k < 2; k++) {
    rf_outcome_t o;
    outcome(&o, k ? RF_OUTCOME_QUARANTINED : RF_OUTCOME_FIXED);
    rf_buf_t s = RF_BUF_INIT, q = RF_BUF_INIT, scratch = RF_BUF_INIT;
    unsigned char leaf[32], want[32];
    assert_int_equal(rf__writer_copy_row(&o, "host-a:3", &s, &q, &scratch, leaf), 0);
    /* One binary tuple in the right buffer, none in the other. */
    rf_buf_t *mine = k ? &q : &s, *other = k ? &s : &q;
    assert_int_equal(other->len, 0);
    const unsigned char *row = (const unsigned char *)mine->data;
    int nf = k ? 23 : 21;
    assert_int_equal(row[0] << 8 | row[1], nf);
    long len;
    const unsigned char *end = bin_field(row, nf - 1, &len);
    assert_int_equal(len, 32);
    assert_int_equal(end + len - row, (long)mine->len); /* the fields fill the tuple exactly */
    golden_bytes(k ? "copy_quarantined.row" : "copy_fixed.row", mine->data, mine->len);
    /* The leaf is the receipt's leaf (the verifier's path), and it is the last field. */
    assert_int_equal(rf_receipt_leaf(&o, "host-a:3", NULL, &scratch, want), 0);
    assert_memory_equal(leaf, want, 32);
    assert_memory_equal(end, leaf, 32);
    /* Text as is (no COPY escapes), jsonb as version 1 and its text, raw as its bytes. */
    const unsigned char *f = bin_field(row, 8, &len);
    assert_int_equal(len, strlen(o.old_value));
    assert_memory_equal(f, o.old_value, len);
    f = bin_field(row, 6, &len);
    assert_int_equal(f[0], 1);
    assert_int_equal(len, 1 + strlen(o.pk_json));
    assert_memory_equal(f + 1, o.pk_json, len - 1);
    if (k) {
      f = bin_field(row, 20, &len);
      assert_int_equal(len, o.raw_len);
      assert_memory_equal(f, o.raw, o.raw_len);
    }
    rf_buf_free(&s);
    rf_buf_free(&q);
    rf_buf_free(&scratch);
    rf_outcome_clear(&o);
  }
  /* A kind that is neither goes nowhere. */
  rf_outcome_t o;
  outcome(&o, 0);
  rf_buf_t s = RF_BUF_INIT, q = RF_BUF_INIT, scratch = RF_BUF_INIT;
  unsigned char leaf[32];
  assert_int_equal(rf__writer_copy_row(&o, "b:1", &s, &q, &scratch, leaf), RF_EINVAL);
  assert_int_equal(s.len + q.len, 0);
  rf_outcome_clear(&o);
  rf_buf_free(&scratch);
}

static void test_copy_row_alloc_failures(void **state) {
  (void)state;
  for (int k = 0; k < 2; k++) {
    rf_outcome_t o;
    outcome(&o, k ? RF_OUTCOME_QUARANTINED : RF_OUTCOME_FIXED);
    int failures = 0;
    for (long n = 0;; n++) {
      rf_buf_t s = RF_BUF_INIT, q = RF_BUF_INIT, scratch = RF_BUF_INIT;
      unsigned char leaf[32];
      rf_alloc_fail_after(n);
      int rc = rf__writer_copy_row(&o, "b:1", &s, &q, &scratch, leaf);
      rf_alloc_fail_reset();
      rf_buf_free(&s);
      rf_buf_free(&q);
      rf_buf_free(&scratch);
      if (rc == 0)
        break;
      assert_int_equal(rc, RF_ENOMEM);
      failures++;
      assert_true(n < 1000);
    }
    assert_true(failures > 0);
    rf_outcome_clear(&o);
  }
}

static void test_make_malformed(void **state) {
  (void)state;
  rf_outcome_t o;
  outcome(&o, RF_OUTCOME_FIXED);
  rf_free(o.source_id);
  o.source_id = rf_strdup("bad \xff utf8");
  /* Allocation failures leave the outcome unchanged. */
  for (long n = 0;; n++) {
    rf_alloc_fail_after(n);
    int rc = rf__writer_make_malformed(&o, "PostgreSQL refused the row: invalid input syntax");
    rf_alloc_fail_reset();
    if (rc == 0)
      break;
    assert_int_equal(rc, RF_ENOMEM);
    assert_int_equal(o.kind, RF_OUTCOME_FIXED);
    assert_non_null(o.new_value);
  }
  assert_int_equal(o.kind, RF_OUTCOME_QUARANTINED);
  assert_string_equal(o.reason, RF_REASON_MALFORMED);
  assert_string_equal(o.detail, "PostgreSQL refused the row: invalid input syntax");
  assert_string_equal(o.key, "orders:42");
  assert_string_equal(o.source, "redis:needs_ai");
  assert_null(o.source_id); /* not valid UTF-8: dropped */
  assert_string_equal(o.table_name, "orders");
  assert_null(o.pk_json);
  assert_null(o.old_value);
  assert_null(o.new_value);
  assert_null(o.row_json);
  assert_null(o.lambda_src);
  assert_false(o.has_confidence);
  assert_int_equal(o.raw_len, 10);
  assert_memory_equal(o.raw, "{\"raw\":1}\n", 10);
  /* And it can be written. */
  rf_buf_t s = RF_BUF_INIT, q = RF_BUF_INIT, scratch = RF_BUF_INIT;
  unsigned char leaf[32];
  assert_int_equal(rf__writer_copy_row(&o, "b:1", &s, &q, &scratch, leaf), 0);
  assert_int_equal(s.len, 0);
  assert_true(q.len > 0);
  rf_buf_free(&s);
  rf_buf_free(&q);
  rf_buf_free(&scratch);
  rf_outcome_clear(&o);
}

static rf_audit_entry_t sample_entry(void) {
  rf_audit_entry_t e = {
      .chain_id = "host-a", .seq = 7, .batch_id = "host-a:7", .source = "redis:needs_ai",
      .table_name = "orders", .column_name = NULL, .received = 10, .fixed = 7,
      .quarantined = 3, .duplicates = 2, .ts_us = 1764318000000001,
  };
  memset(e.root, 0xab, 32);
  memset(e.prev, 0x01, 32);
  return e;
}

static void test_entry_json(void **state) {
  (void)state;
  rf_audit_entry_t e = sample_entry();
  rf_buf_t b = RF_BUF_INIT;
  assert_int_equal(rf_audit_entry_json(&e, &b), 0);
  golden("entry.json", b.data);
  /* Canonical: canonicalizing again (as the verifier does with entry::text)
   * gives the same bytes. */
  rf_json_error_t err;
  char *again = rf_json_canonicalize(b.data, b.len, &err);
  assert_non_null(again);
  assert_string_equal(again, b.data);
  rf_free(again);
  /* The jsonb text form (a space after each member's ':' and ',')
   * canonicalizes back. No string of the sample contains '":' or ',"'. */
  rf_buf_t spaced = RF_BUF_INIT;
  for (size_t i = 0; i < b.len; i++) {
    rf_buf_putc(&spaced, b.data[i]);
    if ((b.data[i] == ',' && b.data[i + 1] == '"') || (b.data[i] == ':' && i && b.data[i - 1] == '"'))
      rf_buf_putc(&spaced, ' ');
  }
  again = rf_json_canonicalize(spaced.data, spaced.len, &err);
  assert_string_equal(again, b.data);
  rf_free(again);
  rf_buf_free(&spaced);
  e.keyed = true;
  rf_buf_t k = RF_BUF_INIT;
  assert_int_equal(rf_audit_entry_json(&e, &k), 0);
  assert_non_null(strstr(k.data, "\"mac\":\"hmac-sha256\""));
  rf_buf_free(&k);
  rf_buf_free(&b);
}

#define LINK_SHA_REF "c65d49300dc2d863463d373af0788206b580c324371d2699e3f2d5cbb2b0b50f"
#define LINK_HMAC_REF "6ac77eac79bb0085cfd8f211d5658623116831b84c11f304490310abda2c780b"

static void test_link(void **state) {
  (void)state;
  unsigned char prev[32] = {0}, a[32], b[32], c[32], d[32];
  const char *entry = "{\"v\":1}";
  assert_int_equal(rf_audit_link(prev, entry, strlen(entry), NULL, 0, a), 0);
  /* SHA-256(32 zero bytes || entry), computed independently (Python hashlib). */
  char hex[65];
  rf_hex_encode(a, 32, hex);
  assert_string_equal(hex, LINK_SHA_REF);
  unsigned char sha_ref[32];
  unsigned char cat[32 + 7];
  memcpy(cat, prev, 32);
  memcpy(cat + 32, entry, 7);
  rf_sha256(cat, sizeof(cat), sha_ref);
  assert_memory_equal(a, sha_ref, 32);
  assert_int_equal(rf_audit_link(prev, entry, strlen(entry), (const unsigned char *)"k1", 2, b), 0);
  assert_int_equal(rf_audit_link(prev, entry, strlen(entry), (const unsigned char *)"k2", 2, c), 0);
  rf_hex_encode(b, 32, hex);
  assert_string_equal(hex, LINK_HMAC_REF);
  assert_memory_not_equal(a, b, 32);
  assert_memory_not_equal(b, c, 32);
  prev[31] = 1;
  assert_int_equal(rf_audit_link(prev, entry, strlen(entry), NULL, 0, d), 0);
  assert_memory_not_equal(a, d, 32);
  char id[64];
  rf_audit_batch_id(id, sizeof(id), "host-a", 12);
  assert_string_equal(id, "host-a:12");
}

static void test_heads_file(void **state) {
  (void)state;
  char dir[] = "/tmp/rf-test-heads-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256], err[256];
  snprintf(path, sizeof(path), "%s/heads", dir);
  rf_audit_head_t *h = NULL;
  size_t n = 99;
  assert_int_equal(rf_audit_heads_read(path, &h, &n, err, sizeof(err)), 0); /* missing: empty */
  assert_int_equal(n, 0);
  unsigned char h1[32], h2[32], h3[32];
  memset(h1, 1, 32);
  memset(h2, 2, 32);
  memset(h3, 3, 32);
  assert_int_equal(rf_audit_heads_write(path, "a", 5, h1, err, sizeof(err)), 0);
  assert_int_equal(rf_audit_heads_write(path, "b", 9, h2, err, sizeof(err)), 0);
  assert_int_equal(rf_audit_heads_write(path, "a", 6, h3, err, sizeof(err)), 0);
  assert_int_equal(rf_audit_heads_read(path, &h, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(h[i].chain_id, "a") == 0) {
      assert_int_equal(h[i].seq, 6);
      assert_memory_equal(h[i].hash, h3, 32);
    } else {
      assert_string_equal(h[i].chain_id, "b");
      assert_int_equal(h[i].seq, 9);
      assert_memory_equal(h[i].hash, h2, 32);
    }
  }
  rf_audit_heads_free(h, n);
  /* No temporary file left behind. */
  char tmp[300];
  snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
  assert_int_not_equal(access(tmp, F_OK), 0);
  /* Parse errors name the line. */
  FILE *f = fopen(path, "w");
  fputs("# comment\na\t5\tzz\n", f);
  fclose(f);
  assert_int_equal(rf_audit_heads_read(path, &h, &n, err, sizeof(err)), RF_EPARSE);
  assert_non_null(strstr(err, ":2:"));
  f = fopen(path, "w");
  fputs("a 5 0101\n", f);
  fclose(f);
  assert_int_equal(rf_audit_heads_read(path, &h, &n, err, sizeof(err)), RF_EPARSE);
  /* A damaged file is rewritten by the next commit. */
  assert_int_equal(rf_audit_heads_write(path, "a", 7, h1, err, sizeof(err)), 0);
  assert_int_equal(rf_audit_heads_read(path, &h, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 1);
  rf_audit_heads_free(h, n);
  /* Allocation failures: clean errors, no leaks. */
  for (long k = 0;; k++) {
    rf_alloc_fail_after(k);
    int rc = rf_audit_heads_write(path, "c", 1, h2, err, sizeof(err));
    rf_alloc_fail_reset();
    if (rc == 0)
      break;
    assert_int_equal(rc, RF_ENOMEM);
  }
  unlink(path);
  rmdir(dir);
  /* Unwritable place: RF_EIO with the reason. */
  assert_int_equal(rf_audit_heads_write("/nonexistent-dir/heads", "a", 1, h1, err, sizeof(err)),
                   RF_EIO);
}

/* ---- lifecycle without a database ---------------------------------------- */

typedef struct life {
  int done, canceled, other, closed;
} life_t;

static void on_done(rf_flush_t *f, int status, void *arg) {
  life_t *l = arg;
  l->done++;
  if (status == RF_ECANCELED)
    l->canceled++;
  else
    l->other++;
  rf_flush_free(f);
}

static void on_close(rf_writer_t *w, void *arg) {
  (void)w;
  ((life_t *)arg)->closed++;
}

static void on_timer(uv_timer_t *t) { uv_stop(t->loop); }

static void test_lifecycle_db_down(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  life_t l = {0};
  rf_writer_t *w = NULL;
  rf_writer_config_t bad = {.conninfo = "host=127.0.0.1 port=1", .chain_id = "bad\nid"};
  assert_int_equal(rf_writer_new(&loop, &bad, on_done, &l, &w), RF_EINVAL);
  rf_writer_config_t cfg = {.conninfo = "host=127.0.0.1 port=1 connect_timeout=1",
                            .chain_id = "t", .retry_max_ms = 50};
  assert_int_equal(rf_writer_new(&loop, &cfg, on_done, &l, &w), 0);
  rf_flush_t *f = rf_flush_new("test", "t", "c");
  rf_outcome_t *o = rf_flush_add(f);
  o->kind = RF_OUTCOME_QUARANTINED;
  o->key = rf_strdup("k1");
  o->reason = rf_strdup("no_fix");
  rf_flush_t *nokey = rf_flush_new("test", "t", "c");
  rf_flush_add(nokey)->kind = RF_OUTCOME_FIXED;
  assert_int_equal(rf_writer_submit(w, nokey), RF_EINVAL);
  rf_flush_free(nokey);
  assert_int_equal(rf_writer_submit(w, f), 0);
  assert_int_equal(rf_writer_pending_rows(w), 1);
  /* The database is unreachable: for 300 ms nothing may come back. */
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_timer, 300, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(l.done, 0);
  assert_false(rf_writer_ready(w));
  rf_writer_close(w, 100, on_close, &l);
  rf_flush_t *late = rf_flush_new("test", NULL, NULL);
  assert_int_equal(rf_writer_submit(w, late), RF_ECLOSED);
  rf_flush_free(late);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(l.done, 1);
  assert_int_equal(l.canceled, 1);
  assert_int_equal(l.closed, 1);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copy_text_escaping), cmocka_unit_test(test_array_escaping),
      cmocka_unit_test(test_copy_row),           cmocka_unit_test(test_copy_row_alloc_failures),
      cmocka_unit_test(test_make_malformed),     cmocka_unit_test(test_entry_json),
      cmocka_unit_test(test_link),               cmocka_unit_test(test_heads_file),
      cmocka_unit_test(test_lifecycle_db_down),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
