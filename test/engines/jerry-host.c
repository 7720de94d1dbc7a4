/* otaflash engine harness: additions to JerryScript's jerry CLI (jerry-main/main-desktop.c).
 * build.sh appends this file to main-desktop.c and calls harness_register() after the CLI's own
 * globals. It gives scripts:
 *   hostFlash    an ArrayBuffer of HOST_FLASH_KIB KiB (default 4096, 0 = none), filled with 0xff,
 *                whose bytes live in malloc'd memory OUTSIDE the JerryScript heap, the way a real
 *                device's flash chip is outside its JS heap (only the small object header is on it);
 *   heapStats()  {size, allocated, peak} from jerry_heap_stats (build with --mem-stats=ON);
 *   hostSha256() an incremental SHA-256 computed in C ({update(u8), digest()}, the library's
 *                IncrementalHash), the way a device runtime hands its native or hardware hash to JS.
 *                Added in otaflash's copy; build.sh pastes host-sha256.h before this file.
 */
#define HARNESS_FLASH_MARK ((void *) 0x0f1a5400)
static uint8_t *harness_flash_p = NULL;

static void
harness_ab_free (jerry_arraybuffer_type_t type, uint8_t *buffer_p, uint32_t size, void *ab_user_p, void *user_p)
{
  (void) type;
  (void) user_p;
  if (ab_user_p == HARNESS_FLASH_MARK)
  {
    return; /* host memory: freed by harness_unregister */
  }
  jerry_heap_free (buffer_p, size); /* ordinary ArrayBuffers: allocated on the JS heap as usual */
}

static void
harness_set_num (jerry_value_t obj, const char *key, double v)
{
  jerry_value_t n = jerry_number (v);
  jerry_value_free (jerry_object_set_sz (obj, key, n));
  jerry_value_free (n);
}

static jerry_value_t
harness_heap_stats (const jerry_call_info_t *call_info_p, const jerry_value_t args_p[], const jerry_length_t args_cnt)
{
  (void) call_info_p;
  (void) args_p;
  (void) args_cnt;
  jerry_heap_stats_t s;
  memset (&s, 0, sizeof (s));
  if (!jerry_heap_stats (&s))
  {
    return jerry_undefined ();
  }
  jerry_value_t o = jerry_object ();
  harness_set_num (o, "size", (double) s.size);
  harness_set_num (o, "allocated", (double) s.allocated_bytes);
  harness_set_num (o, "peak", (double) s.peak_allocated_bytes);
  return o;
}

static void
harness_sha_free (void *native_p, jerry_object_native_info_t *info_p)
{
  (void) info_p;
  free (native_p);
}

static const jerry_object_native_info_t harness_sha_info = { .free_cb = harness_sha_free };

static jerry_value_t
harness_sha_update (const jerry_call_info_t *call_info_p, const jerry_value_t args_p[], const jerry_length_t args_cnt)
{
  host_sha256_t *s = (host_sha256_t *) jerry_object_get_native_ptr (call_info_p->this_value, &harness_sha_info);
  if (s == NULL || args_cnt < 1 || !jerry_value_is_typedarray (args_p[0]))
  {
    return jerry_throw_sz (JERRY_ERROR_TYPE, "hostSha256: update(Uint8Array) on a hash object");
  }
  jerry_size_t off = 0, len = 0;
  jerry_value_t ab = jerry_typedarray_buffer (args_p[0], &off, &len);
  host_sha256_update (s, jerry_arraybuffer_data (ab) + off, len);
  jerry_value_free (ab);
  return jerry_value_copy (call_info_p->this_value);
}

static jerry_value_t
harness_sha_digest (const jerry_call_info_t *call_info_p, const jerry_value_t args_p[], const jerry_length_t args_cnt)
{
  (void) args_p;
  (void) args_cnt;
  host_sha256_t *s = (host_sha256_t *) jerry_object_get_native_ptr (call_info_p->this_value, &harness_sha_info);
  if (s == NULL)
  {
    return jerry_throw_sz (JERRY_ERROR_TYPE, "hostSha256: digest() on a hash object");
  }
  uint8_t out[32];
  host_sha256_final (s, out);
  jerry_value_t u8 = jerry_typedarray (JERRY_TYPEDARRAY_UINT8, 32);
  jerry_size_t off = 0, len = 0;
  jerry_value_t ab = jerry_typedarray_buffer (u8, &off, &len);
  jerry_arraybuffer_write (ab, off, out, 32);
  jerry_value_free (ab);
  return u8;
}

static jerry_value_t
harness_sha256 (const jerry_call_info_t *call_info_p, const jerry_value_t args_p[], const jerry_length_t args_cnt)
{
  (void) call_info_p;
  (void) args_p;
  (void) args_cnt;
  host_sha256_t *s = (host_sha256_t *) malloc (sizeof (host_sha256_t));
  host_sha256_init (s);
  jerry_value_t o = jerry_object ();
  jerry_object_set_native_ptr (o, &harness_sha_info, s);
  jerry_value_t f = jerry_function_external (harness_sha_update);
  jerry_value_free (jerry_object_set_sz (o, "update", f));
  jerry_value_free (f);
  f = jerry_function_external (harness_sha_digest);
  jerry_value_free (jerry_object_set_sz (o, "digest", f));
  jerry_value_free (f);
  return o;
}

static void
harness_register (void)
{
  jerry_arraybuffer_allocator (NULL, harness_ab_free, NULL);
  const char *kib = getenv ("HOST_FLASH_KIB");
  size_t n = (size_t) (kib ? strtoul (kib, NULL, 10) : 4096) * 1024;
  if (n > 0)
  {
    harness_flash_p = (uint8_t *) malloc (n);
    memset (harness_flash_p, 0xff, n);
    jerry_value_t ab = jerry_arraybuffer_external (harness_flash_p, (jerry_length_t) n, HARNESS_FLASH_MARK);
    jerry_value_t g = jerry_current_realm ();
    jerry_value_free (jerry_object_set_sz (g, "hostFlash", ab));
    jerry_value_free (g);
    jerry_value_free (ab);
  }
  jerryx_register_global ("heapStats", harness_heap_stats);
  jerryx_register_global ("hostSha256", harness_sha256);
}
