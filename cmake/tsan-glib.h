/*
 * tsan-glib.h: GLib's locks told to ThreadSanitizer (CERTGATE_TSAN builds
 * only; the compiler includes this file before every source file).
 *
 * GLib's GMutex and GCond on Linux are futexes, not pthread mutexes, and
 * GLib itself is not instrumented: ThreadSanitizer sees neither a lock nor
 * an unlock, and reports every access a GMutex guards as a race. Here each
 * lock, unlock, wait, one-time initialisation and reference drop that
 * certgate calls is annotated as the acquire or release it is, so that what
 * is left to report are accesses that no lock orders.
 */
#ifndef CG_TSAN_GLIB_H
#define CG_TSAN_GLIB_H
/* Sources built without GLib (a test helper or two) have nothing to annotate. */
#if __has_include(<glib.h>)

#include <glib.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

static inline void
cg_tsan_mutex_lock(GMutex *m)
{
	(g_mutex_lock)(m);
	__tsan_acquire(m);
}

static inline gboolean
cg_tsan_mutex_trylock(GMutex *m)
{
	gboolean ok = (g_mutex_trylock)(m);

	if (ok)
		__tsan_acquire(m);
	return ok;
}

static inline void
cg_tsan_mutex_unlock(GMutex *m)
{
	__tsan_release(m);
	(g_mutex_unlock)(m);
}

static inline void
cg_tsan_cond_wait(GCond *c, GMutex *m)
{
	__tsan_release(m);
	(g_cond_wait)(c, m);
	__tsan_acquire(m);
}

static inline gboolean
cg_tsan_cond_wait_until(GCond *c, GMutex *m, gint64 end_time)
{
	gboolean woke;

	__tsan_release(m);
	woke = (g_cond_wait_until)(c, m, end_time);
	__tsan_acquire(m);
	return woke;
}

static inline void
cg_tsan_once_init_leave(volatile void *location, gsize result)
{
	__tsan_release((void *)location);
	(g_once_init_leave)(location, result);
}

/* Every reference dropped releases, and the drop that frees acquires what
 * the others released (a release joins the releaser's clock to the
 * object's; the acquire before the real drop takes them all). */
static inline void
cg_tsan_rc_box_release_full(gpointer mem, GDestroyNotify clear)
{
	__tsan_release(mem);
	__tsan_acquire(mem);
	(g_atomic_rc_box_release_full)(mem, clear);
}

#undef g_mutex_lock
#define g_mutex_lock(m) cg_tsan_mutex_lock(m)
#undef g_mutex_trylock
#define g_mutex_trylock(m) cg_tsan_mutex_trylock(m)
#undef g_mutex_unlock
#define g_mutex_unlock(m) cg_tsan_mutex_unlock(m)
#undef g_cond_wait
#define g_cond_wait(c, m) cg_tsan_cond_wait(c, m)
#undef g_cond_wait_until
#define g_cond_wait_until(c, m, t) cg_tsan_cond_wait_until(c, m, t)
#undef g_atomic_rc_box_release_full
#define g_atomic_rc_box_release_full(mem, clear)                                                   \
	cg_tsan_rc_box_release_full(mem, (GDestroyNotify)(clear))

/* g_once_init_enter: its fast path is an atomic load (instrumented); the
 * store it reads was made inside GLib. A caller that finds the value set
 * acquires what the caller that set it released. */
#undef g_once_init_enter
#define g_once_init_enter(location)                                                                \
	(G_GNUC_EXTENSION({                                                                        \
		gboolean cg_first_ =                                                               \
		    (!g_atomic_pointer_get(location) && (g_once_init_enter)(location));            \
		if (!cg_first_)                                                                    \
			__tsan_acquire((void *)(location));                                        \
		cg_first_;                                                                         \
	}))
#undef g_once_init_leave
#define g_once_init_leave(location, result) cg_tsan_once_init_leave((location), (gsize)(result))

#endif
#endif
