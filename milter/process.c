/*
 * process.c: what one certgate-milter process holds for all its connections:
 * the configuration holder (SIGUSR1 swaps a new snapshot in), the store
 * (opened on first use, reopened at most once a second after a failure),
 * reply authentication (made on first use), and the counters.
 * Never: holds anything of one message.
 */
#include "milter.h"
#include "common.h"

#include <syslog.h>

CgMilter *
cg_milter_new(CgConf *conf, const char *conf_path)
{
	CgMilter *m = g_new0(CgMilter, 1);

	m->conf = cg_conf_holder_new(conf);
	m->conf_path = g_strdup(conf_path);
	g_mutex_init(&m->store_lock);
	return m;
}

void
cg_milter_free(CgMilter *m)
{
	if (m == NULL)
		return;
	cg_store_close(m->store);
	cg_replyauth_free(m->auth);
	cg_conf_holder_free(m->conf);
	g_mutex_clear(&m->store_lock);
	g_free(m->conf_path);
	g_free(m);
}

void
cg_milter_close_store(CgMilter *m)
{
	g_mutex_lock(&m->store_lock);
	cg_store_close(m->store);
	m->store = NULL;
	g_mutex_unlock(&m->store_lock);
}

CgReplyAuth *
cg_milter_auth(CgMilter *m, GError **error)
{
	CgReplyAuth *a;

	g_mutex_lock(&m->store_lock);
	if (m->auth == NULL)
		m->auth = cg_replyauth_new(error);
	a = m->auth;
	g_mutex_unlock(&m->store_lock);
	return a;
}

CgStore *
cg_milter_store(CgMilter *m, GError **error)
{
	CgStore *s;

	g_mutex_lock(&m->store_lock);
	if (m->store != NULL && cg_store_panicked(m->store)) {
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL,
		            "the database needs recovery: restart certgate");
		g_mutex_unlock(&m->store_lock);
		return NULL;
	}
	if (m->store == NULL && g_get_monotonic_time() >= m->store_retry_at) {
		g_autoptr(CgConf) conf = cg_conf_holder_get(m->conf);
		g_autoptr(GError) err = NULL;

		m->store = cg_open_store(conf, CG_STORE_REPLICATE, &err);
		if (m->store == NULL) {
			cg_log(LOG_ERR, "cannot open the database %s: %s", conf->db_home,
			       err->message);
			m->store_retry_at = g_get_monotonic_time() + G_USEC_PER_SEC;
		} else {
			cg_log(LOG_INFO, "database %s open", conf->db_home);
		}
	}
	s = m->store;
	g_mutex_unlock(&m->store_lock);
	if (s == NULL)
		g_set_error(error, CG_ERROR, CG_ERROR_INTERNAL, "the database is unavailable");
	return s;
}
