/*
 * opendb.c: the store as the configuration describes it (DbHome,
 * EvidenceDir and the Replication keys), for the daemons and the CLI.
 */
#include "daemon.h"
#include "store.h"

CgStore *
cg_open_store(const CgConf *conf, int flags, GError **error)
{
	CgStoreRepl repl = {
	    .local = conf->repl_local,
	    .peers = (const char *const *)conf->repl_peers,
	    .priority = (int)conf->repl_priority,
	    .ack = cg_repl_ack_from_name(conf->repl_ack),
	    .ack_timeout_ms = (guint)(conf->repl_ack_timeout * 1000),
	    .create_group = conf->repl_create_group,
	};

	if ((int)repl.ack < 0)
		repl.ack = CG_REPL_ACK_QUORUM;
	return cg_store_open_repl(conf->db_home, conf->evidence_dir, (CgStoreFlags)flags, &repl,
	                          error);
}
