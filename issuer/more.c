/*
 * more.c: job kinds beyond issuing and delivering certificates.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <syslog.h>

gboolean
cg_issuer_run_more(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now, gboolean *temporary,
                   GError **error)
{
	(void)iss;
	(void)txn;
	(void)now;
	(void)temporary;
	(void)error;
	cg_log(LOG_ERR, "%s job %s: this kind of job is not handled by this issuer; dropped",
	       cg_job_kind_name(job->kind), job->id);
	return TRUE;
}
