/* hash.c - SHA-256 / HMAC-SHA256 via OpenSSL EVP (no hand-written crypto). */
#include "rectify/hash.h"

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "rectify/error.h"

#include <pthread.h>

/* Fetch the SHA-256 implementation once, and keep one digest context per
 * thread: with OpenSSL 3 a fresh EVP_MD_CTX per digest costs allocations and
 * name lookups that dwarf hashing a few hundred bytes (the writer hashes
 * several times per row). The context is freed when its thread exits. */
static EVP_MD *sha256_md;
static pthread_key_t ctx_key;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void free_ctx(void *p) { EVP_MD_CTX_free(p); }

static void fetch_sha256(void) {
  sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (pthread_key_create(&ctx_key, free_ctx) != 0)
    sha256_md = NULL; /* every digest then fails cleanly with RF_EINTERNAL */
}

static EVP_MD_CTX *thread_ctx(void) {
  pthread_once(&sha256_once, fetch_sha256);
  if (sha256_md == NULL)
    return NULL;
  EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
  if (ctx == NULL) {
    if ((ctx = EVP_MD_CTX_new()) == NULL)
      return NULL;
    if (pthread_setspecific(ctx_key, ctx) != 0) {
      EVP_MD_CTX_free(ctx);
      return NULL;
    }
  }
  return ctx;
}

int rf_sha256_parts(const void *const *parts, const size_t *lens, size_t n,
                    unsigned char out[RF_SHA256_LEN]) {
  EVP_MD_CTX *ctx = thread_ctx();
  unsigned int outlen = 0;
  int ok = ctx != NULL && EVP_DigestInit_ex2(ctx, sha256_md, NULL) == 1;
  for (size_t i = 0; ok && i < n; i++)
    ok = EVP_DigestUpdate(ctx, parts[i], lens[i]) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, out, &outlen) == 1 && outlen == RF_SHA256_LEN;
  return ok ? 0 : RF_EINTERNAL;
}

int rf_sha256(const void *data, size_t len, unsigned char out[RF_SHA256_LEN]) {
  const void *parts[1] = {data};
  size_t lens[1] = {len};
  return rf_sha256_parts(parts, lens, 1, out);
}

int rf_hmac_sha256_parts(const unsigned char *key, size_t keylen, const void *const *parts,
                         const size_t *lens, size_t n, unsigned char out[RF_SHA256_LEN]) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                         OSSL_PARAM_construct_end()};
  size_t outlen = 0;
  int ok = ctx != NULL && EVP_MAC_init(ctx, key, keylen, params) == 1;
  for (size_t i = 0; ok && i < n; i++)
    ok = EVP_MAC_update(ctx, parts[i], lens[i]) == 1;
  ok = ok && EVP_MAC_final(ctx, out, &outlen, RF_SHA256_LEN) == 1 && outlen == RF_SHA256_LEN;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok ? 0 : RF_EINTERNAL;
}

void rf_hex_encode(const unsigned char *in, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[in[i] >> 4];
    out[2 * i + 1] = hex[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int rf_hex_decode(const char *hex, unsigned char *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(hex[2 * i]), lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return RF_EINVAL;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return hex[2 * n] == '\0' ? 0 : RF_EINVAL;
}
