/* ucd.c - Unicode character properties and case mapping, from ICU.
 *
 * CPython answers str.isalpha(), .upper(), ... from its own copy of the
 * Unicode database; rectify asks ICU (libicu, Debian's libicu-dev) for the same
 * properties instead of carrying tables. The predicates below are CPython's
 * definitions (Objects/unicodectype.c, Tools/unicode/makeunicodedata.py)
 * expressed in ICU properties. ICU 72 implements Unicode 15.0 and CPython 3.11
 * Unicode 14.0: code points first assigned in 15.0 may differ.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include "lambda_int.h"

bool rf__u_isspace(uint32_t cp) {
  if (cp < 128)
    return cp == ' ' || (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x1f);
  int bidi = u_charDirection((UChar32)cp);
  return u_charType((UChar32)cp) == U_SPACE_SEPARATOR || bidi == U_WHITE_SPACE_NEUTRAL ||
         bidi == U_BLOCK_SEPARATOR || bidi == U_SEGMENT_SEPARATOR;
}

bool rf__u_isalpha(uint32_t cp) {
  if (cp < 128)
    return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  int t = u_charType((UChar32)cp);
  return t == U_UPPERCASE_LETTER || t == U_LOWERCASE_LETTER || t == U_TITLECASE_LETTER ||
         t == U_MODIFIER_LETTER || t == U_OTHER_LETTER;
}

static int numeric_type(uint32_t cp) {
  return u_getIntPropertyValue((UChar32)cp, UCHAR_NUMERIC_TYPE);
}

bool rf__u_isdecimal(uint32_t cp) {
  if (cp < 128)
    return cp >= '0' && cp <= '9';
  return numeric_type(cp) == U_NT_DECIMAL;
}

bool rf__u_isdigit(uint32_t cp) {
  if (cp < 128)
    return cp >= '0' && cp <= '9';
  int t = numeric_type(cp);
  return t == U_NT_DECIMAL || t == U_NT_DIGIT;
}

bool rf__u_isnumeric(uint32_t cp) {
  if (cp < 128)
    return cp >= '0' && cp <= '9';
  int t = numeric_type(cp);
  return t == U_NT_DECIMAL || t == U_NT_DIGIT || t == U_NT_NUMERIC;
}

int rf__u_decimal(uint32_t cp) {
  if (cp < 128)
    return cp >= '0' && cp <= '9' ? (int)(cp - '0') : -1;
  if (numeric_type(cp) != U_NT_DECIMAL)
    return -1;
  return u_charDigitValue((UChar32)cp);
}

bool rf__u_isprintable(uint32_t cp) {
  if (cp < 128)
    return cp >= 0x20 && cp < 0x7f;
  switch (u_charType((UChar32)cp)) {
  case U_CONTROL_CHAR:
  case U_FORMAT_CHAR:
  case U_SURROGATE:
  case U_PRIVATE_USE_CHAR:
  case U_UNASSIGNED:
  case U_LINE_SEPARATOR:
  case U_PARAGRAPH_SEPARATOR:
  case U_SPACE_SEPARATOR:
    return false;
  default:
    return true;
  }
}

bool rf__u_islower(uint32_t cp) {
  if (cp < 128)
    return cp >= 'a' && cp <= 'z';
  return u_hasBinaryProperty((UChar32)cp, UCHAR_LOWERCASE);
}

bool rf__u_isupper(uint32_t cp) {
  if (cp < 128)
    return cp >= 'A' && cp <= 'Z';
  return u_hasBinaryProperty((UChar32)cp, UCHAR_UPPERCASE);
}

bool rf__u_istitle(uint32_t cp) {
  return cp >= 128 && u_charType((UChar32)cp) == U_TITLECASE_LETTER;
}

bool rf__u_iscased(uint32_t cp) {
  if (cp < 128)
    return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return u_hasBinaryProperty((UChar32)cp, UCHAR_CASED);
}

bool rf__u_iscaseignorable(uint32_t cp) {
  return u_hasBinaryProperty((UChar32)cp, UCHAR_CASE_IGNORABLE);
}

bool rf__u_isxidstart(uint32_t cp) {
  if (cp < 128)
    return cp == '_' || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
  return u_hasBinaryProperty((UChar32)cp, UCHAR_XID_START);
}

bool rf__u_isxidcontinue(uint32_t cp) {
  if (cp < 128)
    return cp == '_' || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || (cp >= '0' && cp <= '9');
  return u_hasBinaryProperty((UChar32)cp, UCHAR_XID_CONTINUE);
}

bool rf__u_islinebreak(uint32_t cp) {
  switch (cp) {
  case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x1C: case 0x1D: case 0x1E: case 0x85:
  case 0x2028: case 0x2029:
    return true;
  default:
    return false;
  }
}

static void put_utf16(const UChar *u, int32_t n, rf_buf_t *out) {
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U16_NEXT(u, i, n, c);
    char tmp[4];
    int k = rf__utf8_put(tmp, (uint32_t)c);
    rf_buf_append(out, tmp, (size_t)k);
  }
}

void rf__u_map(uint32_t cp, enum rf__case how, rf_buf_t *out) {
  if (cp < 128) {
    char ch = (char)cp;
    if ((how == RF_CASE_UPPER || how == RF_CASE_TITLE) && ch >= 'a' && ch <= 'z')
      ch = (char)(ch - 32);
    else if ((how == RF_CASE_LOWER || how == RF_CASE_FOLD) && ch >= 'A' && ch <= 'Z')
      ch = (char)(ch + 32);
    rf_buf_putc(out, ch);
    return;
  }
  UChar src[2], dst[8];
  int32_t sn = 0;
  U16_APPEND_UNSAFE(src, sn, (UChar32)cp);
  UErrorCode st = U_ZERO_ERROR;
  int32_t n;
  switch (how) {
  case RF_CASE_UPPER: n = u_strToUpper(dst, 8, src, sn, "", &st); break;
  case RF_CASE_LOWER: n = u_strToLower(dst, 8, src, sn, "", &st); break;
  case RF_CASE_TITLE:
    n = u_strToTitle(dst, 8, src, sn, NULL, "", &st);
    break;
  default: n = u_strFoldCase(dst, 8, src, sn, U_FOLD_CASE_DEFAULT, &st); break;
  }
  if (U_FAILURE(st) || n > 8) {
    char tmp[4];
    int k = rf__utf8_put(tmp, cp);
    rf_buf_append(out, tmp, (size_t)k);
    return;
  }
  put_utf16(dst, n, out);
}

/* CPython's handle_capital_sigma */
void rf__u_lower_at(const uint32_t *cps, size_t n, size_t i, rf_buf_t *out) {
  if (cps[i] != 0x3A3) {
    rf__u_map(cps[i], RF_CASE_LOWER, out);
    return;
  }
  size_t j = i;
  bool before = false, after = false;
  while (j > 0) {
    uint32_t c = cps[--j];
    if (rf__u_iscaseignorable(c))
      continue;
    before = rf__u_iscased(c);
    break;
  }
  for (j = i + 1; j < n; j++) {
    uint32_t c = cps[j];
    if (rf__u_iscaseignorable(c))
      continue;
    after = rf__u_iscased(c);
    break;
  }
  uint32_t r = before && !after ? 0x3C2 : 0x3C3;
  char tmp[4];
  int k = rf__utf8_put(tmp, r);
  rf_buf_append(out, tmp, (size_t)k);
}

/* Case mapping of whole strings. Code points U+0080..U+07FF (two UTF-8
 * bytes: Latin, Greek, Cyrillic, ...) are mapped through tables filled once
 * from ICU with the same full mappings rf__u_map asks for; longer sequences
 * go through rf__u_map. A mapping is context-free except the capital sigma
 * under lower(), which the table marks (n == 0). */
typedef rf__cmap_t cmap_t;

enum { CM_UPPER, CM_LOWER, CM_FOLD, CM_N };
static cmap_t cmap[CM_N][0x800 - 0x80];
static pthread_once_t cmap_once = PTHREAD_ONCE_INIT;
static atomic_bool cmap_ready; /* skips pthread_once once the tables are filled */

static void cmap_build(void) {
  for (int how = 0; how < CM_N; how++)
    for (uint32_t cp = 0x80; cp < 0x800; cp++) {
      cmap_t *e = &cmap[how][cp - 0x80];
      e->n = 0xFF;
      if (how == CM_LOWER && cp == 0x3A3) {
        e->n = 0;
        continue;
      }
      UChar src[1] = {(UChar)cp}, dst[8];
      UErrorCode st = U_ZERO_ERROR;
      int32_t n = how == CM_UPPER   ? u_strToUpper(dst, 8, src, 1, "", &st)
                  : how == CM_LOWER ? u_strToLower(dst, 8, src, 1, "", &st)
                                    : u_strFoldCase(dst, 8, src, 1, U_FOLD_CASE_DEFAULT, &st);
      if (U_FAILURE(st) || n > 8)
        continue;
      char tmp[32];
      size_t k = 0;
      for (int32_t i = 0; i < n;) {
        UChar32 c;
        U16_NEXT(dst, i, n, c);
        k += (size_t)rf__utf8_put(tmp + k, (uint32_t)c);
      }
      if (k >= 1 && k <= sizeof(e->b)) {
        memcpy(e->b, tmp, k);
        e->n = (uint8_t)k;
      }
    }
  atomic_store_explicit(&cmap_ready, true, memory_order_release);
}

const rf__cmap_t *rf__u_case_table(enum rf__case how) {
  if (!atomic_load_explicit(&cmap_ready, memory_order_acquire))
    pthread_once(&cmap_once, cmap_build);
  return cmap[how == RF_CASE_UPPER ? CM_UPPER : how == RF_CASE_LOWER ? CM_LOWER : CM_FOLD];
}

bool rf__u_map_str(const char *p, size_t len, enum rf__case how, rf_buf_t *out) {
  const cmap_t *tab = rf__u_case_table(how);
  size_t start = out->len, i = 0;
  /* 4 bytes of room per input byte: an ASCII byte writes 1, a two-byte
   * sequence at most 7 (the table's limit); longer ones go through rf__u_map */
  while (i < len) {
    if (!rf_buf_reserve(out, 4 * (len - i)))
      return true; /* sticky oom: the caller checks rf_buf_ok */
    char *w = out->data + out->len;
    const unsigned char *s = (const unsigned char *)p;
    while (i < len) {
      size_t a = rf__ascii_prefix(p + i, len - i);
      rf__ascii_case(w, p + i, a, how == RF_CASE_UPPER);
      w += a;
      i += a;
      if (i >= len)
        break;
      unsigned char ch = s[i];
      if (ch >= 0xE0)
        break;
      const cmap_t *e = &tab[(((uint32_t)(ch & 0x1F) << 6) | (s[i + 1] & 0x3F)) - 0x80];
      if (e->n == 0) {
        out->len = start;
        out->data[start] = '\0';
        return false;
      }
      if (e->n == 0xFF)
        break;
      memcpy(w, e->b, e->n);
      w += e->n;
      i += 2;
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    if (i >= len)
      break;
    rf__u_map(rf__utf8_get(p, &i), how, out);
  }
  return true;
}

long rf__u_from_name(const char *name, size_t len) {
  char buf[128];
  if (len >= sizeof(buf))
    return -1;
  memcpy(buf, name, len);
  buf[len] = '\0';
  UErrorCode st = U_ZERO_ERROR;
  UChar32 c = u_charFromName(U_UNICODE_CHAR_NAME, buf, &st);
  if (U_FAILURE(st) || c < 0) {
    st = U_ZERO_ERROR;
    c = u_charFromName(U_CHAR_NAME_ALIAS, buf, &st);
    if (U_FAILURE(st) || c < 0)
      return -1;
  }
  return c;
}
