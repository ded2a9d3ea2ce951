/*
 * libFuzzer target: the config parser (conf_parse_string) and the whole-
 * configuration checks, on arbitrary text.  Error messages go to a
 * /dev/null stream (sanitizer reports still reach fd 2).  The process
 * runs in an empty temp dir so relative includes find nothing.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "conf.h"
#include "log.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	fuzz_dir[64];

/* Remove the temp dir at exit. */
static void
fuzz_conf_cleanup(void)
{
	rmdir(fuzz_dir);
}

/* Silence the parser's stderr and move to an empty directory. */
int
LLVMFuzzerInitialize(int *argc __unused, char ***argv __unused)
{
	FILE	*null;

	log_init(LOG_LEVEL_ERR, 0);
	if (getenv("FUZZ_VERBOSE") == NULL) {
		if ((null = fopen("/dev/null", "w")) == NULL)
			abort();
		stderr = null;
	}
	snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/fuzz_conf.XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL || chdir(fuzz_dir) == -1)
		abort();
	atexit(fuzz_conf_cleanup);
	return (0);
}

/* Parse the input as a config file; then check what the parser built. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf		 conf;
	struct conf_device	*cd;
	char			*text;
	int			 errors;

	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	conf_init(&conf);
	errors = conf_parse_string(&conf, "fuzz.conf", text);
	if (errors < 0)
		abort();
	if (errors == 0) {
		/* A valid configuration has what the checks promise. */
		TAILQ_FOREACH(cd, &conf.devices, entry) {
			if (cd->name == NULL || cd->module == NULL ||
			    cd->socket == NULL ||
			    strchr(cd->module, '/') != NULL ||
			    cd->nmasks > nitems(cd->masks))
				abort();
		}
	}
	conf_clear(&conf);
	free(text);
	return (0);
}
