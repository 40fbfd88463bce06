/* outcome.c - outcome and flush containers (see outcome.h for ownership). */
#include "rectify/outcome.h"

#include <string.h>

#include "rectify/alloc.h"

void rf_outcome_clear(rf_outcome_t *o) {
  char **strs[] = {&o->key,         &o->source,      &o->source_id,  &o->table_name,
                   &o->column_name, &o->pk_json,     &o->pk_hash,    &o->old_value,
                   &o->new_value,   &o->row_json,    &o->fingerprint, &o->cluster_id,
                   &o->fix_id,      &o->lambda_src,  &o->generator,  &o->model,
                   &o->reason,      &o->detail,      &o->model_answer};
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
    rf_free(*strs[i]);
  rf_free(o->raw);
  memset(o, 0, sizeof(*o));
}

rf_outcome_t *rf_flush_add(rf_flush_t *f) {
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 16;
    rf_outcome_t *rows = rf_realloc(f->rows, cap * sizeof(*rows));
    if (rows == NULL)
      return NULL;
    f->rows = rows;
    f->cap = cap;
  }
  rf_outcome_t *o = &f->rows[f->n++];
  memset(o, 0, sizeof(*o));
  return o;
}

rf_flush_t *rf_flush_new(const char *source, const char *table_name, const char *column_name) {
  rf_flush_t *f = rf_calloc(1, sizeof(*f));
  if (f == NULL)
    return NULL;
  f->source = rf_strdup(source ? source : "");
  f->table_name = table_name ? rf_strdup(table_name) : NULL;
  f->column_name = column_name ? rf_strdup(column_name) : NULL;
  if (f->source == NULL || (table_name && !f->table_name) || (column_name && !f->column_name)) {
    rf_flush_free(f);
    return NULL;
  }
  return f;
}

void rf_flush_free(rf_flush_t *f) {
  if (f == NULL)
    return;
  for (size_t i = 0; i < f->n; i++)
    rf_outcome_clear(&f->rows[i]);
  rf_free(f->rows);
  rf_free(f->source);
  rf_free(f->table_name);
  rf_free(f->column_name);
  rf_free(f->batch_id);
  rf_free(f->merges_json);
  rf_free(f);
}

void rf_flush_counts(const rf_flush_t *f, size_t *fixed, size_t *quarantined) {
  size_t fx = 0, q = 0;
  for (size_t i = 0; i < f->n; i++) {
    if (f->rows[i].kind == RF_OUTCOME_FIXED)
      fx++;
    else
      q++;
  }
  if (fixed)
    *fixed = fx;
  if (quarantined)
    *quarantined = q;
}
