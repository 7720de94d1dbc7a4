/* otaflash engine harness: a minimal Duktape host (Debian's libduktape 2.7 + duktape-dev headers).
 *   duk-host SCRIPT.js
 * Globals: print(...), heapStats() -> {size, allocated, peak} (every byte Duktape allocates, counted
 * by a wrapping allocator; size = the limit or 0), hostFlash (an ArrayBuffer of HOST_FLASH_KIB KiB,
 * default 4096, 0 = none, malloc'd outside the counted heap, filled with 0xff: the device's flash).
 * DUK_HEAP_KIB=N makes allocations fail past N KiB (Duktape then runs an emergency GC and retries),
 * which emulates a device heap of that size. hostSha256() -> {update(u8), digest()}: SHA-256 in C (the
 * library's IncrementalHash), as a device runtime hands its native hash to JS (added in otaflash's copy). Exit status 0 when the script ran without an uncaught
 * error. Build: cc -O2 -o duk-host duk-host.c -lduktape -lm
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "duktape.h"
#include "host-sha256.h"

typedef struct { size_t size; size_t pad; } hdr_t; /* keeps 16-byte alignment */
static size_t g_alloc = 0, g_peak = 0, g_limit = 0;

static void *h_alloc (void *ud, duk_size_t n) {
  (void) ud;
  if (n == 0) return NULL;
  if (g_limit && g_alloc + n > g_limit) return NULL;
  hdr_t *h = (hdr_t *) malloc (sizeof (hdr_t) + n);
  if (!h) return NULL;
  h->size = n;
  g_alloc += n;
  if (g_alloc > g_peak) g_peak = g_alloc;
  return h + 1;
}
static void h_free (void *ud, void *p) {
  (void) ud;
  if (!p) return;
  hdr_t *h = ((hdr_t *) p) - 1;
  g_alloc -= h->size;
  free (h);
}
static void *h_realloc (void *ud, void *p, duk_size_t n) {
  if (!p) return h_alloc (ud, n);
  if (n == 0) { h_free (ud, p); return NULL; }
  hdr_t *h = ((hdr_t *) p) - 1;
  size_t old = h->size;
  if (n > old && g_limit && g_alloc + (n - old) > g_limit) return NULL;
  hdr_t *nh = (hdr_t *) realloc (h, sizeof (hdr_t) + n);
  if (!nh) return NULL;
  nh->size = n;
  g_alloc = g_alloc - old + n;
  if (g_alloc > g_peak) g_peak = g_alloc;
  return nh + 1;
}
static void h_fatal (void *ud, const char *msg) {
  (void) ud;
  fprintf (stderr, "duk-host: FATAL %s\n", msg ? msg : "");
  fflush (stderr);
  abort ();
}

static duk_ret_t js_print (duk_context *ctx) {
  duk_idx_t n = duk_get_top (ctx);
  for (duk_idx_t i = 0; i < n; i++) {
    fputs (duk_safe_to_string (ctx, i), stdout);
    fputc (i + 1 < n ? ' ' : '\n', stdout);
  }
  if (n == 0) fputc ('\n', stdout);
  fflush (stdout);
  return 0;
}
static duk_ret_t js_heap_stats (duk_context *ctx) {
  duk_push_object (ctx);
  duk_push_number (ctx, (double) g_limit); duk_put_prop_string (ctx, -2, "size");
  duk_push_number (ctx, (double) g_alloc); duk_put_prop_string (ctx, -2, "allocated");
  duk_push_number (ctx, (double) g_peak); duk_put_prop_string (ctx, -2, "peak");
  return 1;
}

/* The hash state lives in a plain buffer on the Duktape heap (counted, as a device's JS heap would). */
static host_sha256_t *sha_this (duk_context *ctx) {
  duk_push_this (ctx);
  duk_get_prop_string (ctx, -1, DUK_HIDDEN_SYMBOL ("sha"));
  duk_size_t n = 0;
  host_sha256_t *s = (host_sha256_t *) duk_get_buffer (ctx, -1, &n);
  duk_pop_2 (ctx);
  if (s == NULL || n != sizeof (host_sha256_t)) (void) duk_type_error (ctx, "hostSha256: not a hash object");
  return s;
}
static duk_ret_t js_sha_update (duk_context *ctx) {
  host_sha256_t *s = sha_this (ctx);
  if (!duk_is_buffer_data (ctx, 0)) return duk_type_error (ctx, "hostSha256: update(Uint8Array)");
  duk_size_t n = 0;
  void *p = duk_get_buffer_data (ctx, 0, &n);
  host_sha256_update (s, (const uint8_t *) p, n);
  duk_push_this (ctx);
  return 1;
}
static duk_ret_t js_sha_digest (duk_context *ctx) {
  host_sha256_t *s = sha_this (ctx);
  uint8_t *out = (uint8_t *) duk_push_fixed_buffer (ctx, 32);
  host_sha256_final (s, out);
  duk_push_buffer_object (ctx, -1, 0, 32, DUK_BUFOBJ_UINT8ARRAY);
  return 1;
}
static duk_ret_t js_sha256 (duk_context *ctx) {
  duk_push_object (ctx);
  host_sha256_t *s = (host_sha256_t *) duk_push_fixed_buffer (ctx, sizeof (host_sha256_t));
  host_sha256_init (s);
  duk_put_prop_string (ctx, -2, DUK_HIDDEN_SYMBOL ("sha"));
  duk_push_c_function (ctx, js_sha_update, 1); duk_put_prop_string (ctx, -2, "update");
  duk_push_c_function (ctx, js_sha_digest, 0); duk_put_prop_string (ctx, -2, "digest");
  return 1;
}

int main (int argc, char **argv) {
  if (argc != 2) { fprintf (stderr, "usage: duk-host SCRIPT.js\n"); return 2; }
  const char *lim = getenv ("DUK_HEAP_KIB");
  if (lim) g_limit = (size_t) strtoul (lim, NULL, 10) * 1024;
  FILE *f = fopen (argv[1], "rb");
  if (!f) { perror (argv[1]); return 2; }
  fseek (f, 0, SEEK_END);
  long len = ftell (f);
  fseek (f, 0, SEEK_SET);
  char *src = (char *) malloc ((size_t) len);
  if (fread (src, 1, (size_t) len, f) != (size_t) len) { perror ("read"); return 2; }
  fclose (f);

  duk_context *ctx = duk_create_heap (h_alloc, h_realloc, h_free, NULL, h_fatal);
  if (!ctx) { fprintf (stderr, "duk-host: cannot create heap\n"); return 3; }
  duk_push_c_function (ctx, js_print, DUK_VARARGS); duk_put_global_string (ctx, "print");
  duk_push_c_function (ctx, js_heap_stats, 0); duk_put_global_string (ctx, "heapStats");
  duk_push_c_function (ctx, js_sha256, 0); duk_put_global_string (ctx, "hostSha256");
  const char *kib = getenv ("HOST_FLASH_KIB");
  size_t fsz = (size_t) (kib ? strtoul (kib, NULL, 10) : 4096) * 1024;
  void *flash = NULL;
  if (fsz) {
    flash = malloc (fsz);
    memset (flash, 0xff, fsz);
    duk_push_external_buffer (ctx);
    duk_config_buffer (ctx, -1, flash, fsz);
    duk_push_buffer_object (ctx, -1, 0, fsz, DUK_BUFOBJ_ARRAYBUFFER);
    duk_put_global_string (ctx, "hostFlash");
    duk_pop (ctx);
  }
  duk_push_lstring (ctx, src, (duk_size_t) len);
  free (src);
  duk_push_string (ctx, argv[1]);
  int rc = 0;
  if (duk_pcompile (ctx, DUK_COMPILE_EVAL) != 0 || duk_pcall (ctx, 0) != 0) {
    if (duk_is_error (ctx, -1)) {
      duk_get_prop_string (ctx, -1, "stack");
      fprintf (stderr, "duk-host: uncaught %s\n", duk_safe_to_string (ctx, -1));
      duk_pop (ctx);
    } else {
      fprintf (stderr, "duk-host: uncaught %s\n", duk_safe_to_string (ctx, -1));
    }
    rc = 1;
  }
  duk_pop (ctx);
  fprintf (stderr, "duk-host: heap peak %zu bytes, at exit %zu bytes%s\n", g_peak, g_alloc, g_limit ? " (limited)" : "");
  duk_destroy_heap (ctx);
  free (flash);
  return rc;
}
