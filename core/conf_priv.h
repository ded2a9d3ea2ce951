/*
 * Internal to the configuration parser (conf.c, conf_lex.c): the parser's
 * state, tokens and the shared statement helpers.
 */

#ifndef VHOSTD_CONF_PRIV_H
#define VHOSTD_CONF_PRIV_H

#include <stddef.h>

#include "compat.h"

struct conf;
struct conf_device;

#define CONF_FILE_MAX		(1024 * 1024)	/* bytes in one file */
#define CONF_TOKEN_MAX		1024		/* bytes in one token */
#define CONF_INCLUDE_DEPTH	8		/* nested includes */
#define CONF_NAME_MAX		64		/* device name length */
#define CONF_ERROR_MAX		(CONF_TOKEN_MAX + 512)

enum conf_token {
	CONF_T_EOF,
	CONF_T_NEWLINE,
	CONF_T_WORD,
	CONF_T_STRING,
	CONF_T_LBRACE,
	CONF_T_RBRACE,
	CONF_T_ERROR,
};


struct conf_parser {
	struct conf		*conf;
	int			 errors;
	unsigned		 depth;		/* include depth */
};

/* One file being parsed; includes form a chain through `parent`. */
struct conf_file {
	struct conf_parser	*p;
	struct conf_file	*parent;
	const char		*name;		/* as printed in errors */
	char			*real;		/* realpath, for cycles */
	const char		*text;
	size_t			 len;
	size_t			 pos;
	unsigned		 line;
	int			 quiet;		/* skipping: no lex errors */

	/* The current token. */
	int			 peeked;
	enum conf_token		 tok;
	unsigned		 tok_line;
	char			 tok_text[CONF_TOKEN_MAX + 1];
};

/* A keyword of the top level or of a device block. */
struct conf_keyword {
	const char	*name;
	void		(*parse)(struct conf_file *, struct conf_device *,
			    const char *);
};

/* Print a "file:line: message" error and count it. */
void		 conf_error(struct conf_file *, unsigned line, const char *fmt,
		    ...) __printflike(3, 4);
/* Consume and return, or only look at, the next token. */
enum conf_token	 conf_lex_get(struct conf_file *);
enum conf_token	 conf_lex_peek(struct conf_file *);
/* Describe the current token for an error message. */
const char	*conf_lex_desc(struct conf_file *, char *buf, size_t size);
/* Skip to the end of the statement (or of the block at `depth`). */
void		 conf_skip(struct conf_file *, int in_block, unsigned depth);
/* Expect the end of a statement; 0, or -1 (reported, skipped). */
int		 conf_parse_end(struct conf_file *, int in_block,
		    const char *key);
/* Read the single value of `key` and the end of the statement into
 * *value (malloc'd); 0, or -1 (reported). */
int		 conf_parse_value(struct conf_file *, int in_block,
		    const char *key, char **value);
/* Compare a key with a keyword table entry (bsearch). */
int		 conf_keyword_cmp(const void *key, const void *entry);
/* "file:line" of a line of `f`, malloc'd. */
char		*conf_where(struct conf_file *, unsigned line);

/* device "NAME" { ... } (conf_block.c). */
void		 conf_parse_device(struct conf_file *, struct conf_device *,
		    const char *);
/* Append the comma-separated masks in `s` to cd; 0 or -1 with *cause. */
int		 conf_masks_add(struct conf_device *, const char *s,
		    char **cause);

#endif /* VHOSTD_CONF_PRIV_H */
