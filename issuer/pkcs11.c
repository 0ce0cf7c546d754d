/*
 * pkcs11.c: the issuing CA key on a PKCS#11 token, through OpenSSL's pkcs11
 * engine (Debian's libengine-pkcs11-openssl; Debian 12 has no pkcs11
 * provider). The engine API is deprecated in OpenSSL 3, hence the define,
 * in this one file only.
 *
 * CAKey is a PKCS#11 URI (pkcs11:token=LABEL;object=LABEL;type=private),
 * PKCS11Module the module, PKCS11PinFile a file holding the user PIN. The PIN
 * is wiped from memory after use. Key generation (certgate ca init --pkcs11)
 * runs the token's own tool, pkcs11-tool, through an argv: the key is made
 * inside the token and never leaves it.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "issuer-int.h"

#include <string.h>
#include <openssl/engine.h>

#define ENGINE_SO "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"

static char *
read_pin(const CgConf *conf, GError **error)
{
	char *pin = NULL;
	gsize len = 0;

	if (*conf->pkcs11_pin_file == '\0')
		return g_strdup("");
	if (!g_file_get_contents(conf->pkcs11_pin_file, &pin, &len, error))
		return NULL;
	g_strchomp(pin);
	return pin;
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		g_free(s);
	}
}

static ENGINE *
engine_open(const CgConf *conf, GError **error)
{
	ENGINE *e;
	char *pin;

	ENGINE_load_builtin_engines();
	e = ENGINE_by_id("pkcs11");
	if (e == NULL) {
		e = ENGINE_by_id("dynamic");
		if (e == NULL || !ENGINE_ctrl_cmd_string(e, "SO_PATH", ENGINE_SO, 0) ||
		    !ENGINE_ctrl_cmd_string(e, "ID", "pkcs11", 0) ||
		    !ENGINE_ctrl_cmd_string(e, "LOAD", NULL, 0)) {
			g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
			            "the OpenSSL pkcs11 engine is not available: %s",
			            cg_openssl_error());
			if (e)
				ENGINE_free(e);
			return NULL;
		}
	}
	if (*conf->pkcs11_module != '\0' &&
	    !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", conf->pkcs11_module, 0)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "PKCS11Module %s: %s",
		            conf->pkcs11_module, cg_openssl_error());
		ENGINE_free(e);
		return NULL;
	}
	if ((pin = read_pin(conf, error)) == NULL) {
		ENGINE_free(e);
		return NULL;
	}
	if (*pin != '\0' && !ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		wipe_free(pin);
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "PKCS#11 PIN: %s",
		            cg_openssl_error());
		ENGINE_free(e);
		return NULL;
	}
	wipe_free(pin);
	if (!ENGINE_init(e)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "PKCS#11 engine init: %s",
		            cg_openssl_error());
		ENGINE_free(e);
		return NULL;
	}
	return e;
}

EVP_PKEY *
cg_pkcs11_load_key(const CgConf *conf, void **engine, GError **error)
{
	ENGINE *e = engine_open(conf, error);
	EVP_PKEY *key;

	if (e == NULL)
		return NULL;
	key = ENGINE_load_private_key(e, conf->ca_key, NULL, NULL);
	if (key == NULL) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "CAKey %s not found on the token: %s",
		            conf->ca_key, cg_openssl_error());
		ENGINE_finish(e);
		ENGINE_free(e);
		return NULL;
	}
	*engine = e;
	return key;
}

void
cg_pkcs11_release(void *engine)
{
	ENGINE *e = engine;

	ENGINE_finish(e);
	ENGINE_free(e);
}

/* The value of attribute name in a PKCS#11 URI path ("token", "object"). */
static char *
uri_attr(const char *uri, const char *name)
{
	g_auto(GStrv) parts = g_strsplit(uri + strlen("pkcs11:"), ";", -1);
	char **p;

	for (p = parts; *p; p++) {
		char *eq = strchr(*p, '=');

		if (eq != NULL && (gsize)(eq - *p) == strlen(name) &&
		    strncmp(*p, name, strlen(name)) == 0)
			return g_uri_unescape_string(eq + 1, NULL);
	}
	return NULL;
}

gboolean
cg_pkcs11_generate(const CgConf *conf, const char *key_type, GError **error)
{
	g_autofree char *token = uri_attr(conf->ca_key, "token");
	g_autofree char *object = uri_attr(conf->ca_key, "object");
	g_autofree char *out = NULL, *err_out = NULL;
	char *pin;
	int status = 0;
	gboolean ok;

	if (token == NULL || object == NULL || *conf->pkcs11_module == '\0') {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG,
		            "--pkcs11 needs CAKey pkcs11:token=...;object=...;type=private and "
		            "PKCS11Module");
		return FALSE;
	}
	if ((pin = read_pin(conf, error)) == NULL)
		return FALSE;
	{
		const char *argv[] = {"pkcs11-tool",
		                      "--module",
		                      conf->pkcs11_module,
		                      "--token-label",
		                      token,
		                      "--login",
		                      "--pin",
		                      pin,
		                      "--keypairgen",
		                      "--key-type",
		                      key_type,
		                      "--label",
		                      object,
		                      "--id",
		                      "01",
		                      NULL};

		ok = g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
		                  &err_out, &status, error);
	}
	wipe_free(pin);
	if (!ok)
		return FALSE;
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_set_error(error, CG_ERROR, CG_ERROR_CONFIG, "pkcs11-tool --keypairgen failed: %s",
		            err_out ? g_strstrip(err_out) : "");
		return FALSE;
	}
	return TRUE;
}
