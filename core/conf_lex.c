/*
 * The configuration file's tokenizer and the helpers every statement
 * parser shares: errors as "file:line: message", skipping to the end of a
 * bad statement, single values.  Split from conf.c; the parser's state is
 * in conf_priv.h.  Main thread only.
 */

#include <sys/types.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_priv.h"
#include "xmalloc.h"

/* How a token is named in error messages (words and strings by text). */
static const char *conf_token_names[] = {
	[CONF_T_EOF] = "end of file",
	[CONF_T_NEWLINE] = "end of line",
	[CONF_T_WORD] = "word",
	[CONF_T_STRING] = "string",
	[CONF_T_LBRACE] = "'{'",
	[CONF_T_RBRACE] = "'}'",
	[CONF_T_ERROR] = "bad token",
};

/* Print a "file:line: message" error and count it. */
void __printflike(3, 4)
conf_error(struct conf_file *f, unsigned line, const char *fmt, ...)
{
	char	 msg[CONF_ERROR_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	conf_report("%s:%u: %s", f->name, line, msg);
	f->p->errors++;
}

/* Report a tokenizer error unless the parser is skipping a bad line. */
static void __printflike(2, 3)
conf_lex_error(struct conf_file *f, const char *fmt, ...)
{
	char	 msg[CONF_ERROR_MAX];
	va_list	 ap;

	if (f->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	conf_error(f, f->line, "%s", msg);
}

/* Is c allowed in a bare word? */
static int
conf_lex_wordchar(int c)
{
	/* strchr finds the terminator for c == 0. */
	return (c != '\0' && (isalnum(c) || strchr("_./:,=+-", c) != NULL));
}

/* Describe a byte for an error message. */
static const char *
conf_lex_char(int c, char *buf, size_t size)
{
	if (isprint(c))
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", (unsigned)c);
	return (buf);
}

/* Read a double-quoted string (the opening quote is at f->pos). */
static enum conf_token
conf_lex_string(struct conf_file *f)
{
	size_t	 n = 0;
	int	 c, toolong = 0, bad = 0;
	char	 desc[16];

	f->pos++;
	for (;;) {
		if (f->pos >= f->len || f->text[f->pos] == '\n') {
			conf_lex_error(f, "unterminated string");
			return (CONF_T_ERROR);
		}
		c = (unsigned char)f->text[f->pos++];
		if (c == '"')
			break;
		if (c == '\\') {
			if (f->pos >= f->len || f->text[f->pos] == '\n')
				continue;	/* reported as unterminated */
			c = (unsigned char)f->text[f->pos++];
			if (c != '"' && c != '\\') {
				if (!bad)
					conf_lex_error(f, "unknown escape "
					    "'\\' + %s in string (only \\\" "
					    "and \\\\)", conf_lex_char(c, desc,
					    sizeof desc));
				bad = 1;
				continue;
			}
		} else if (c == '\0' || (c < 0x20 && c != '\t') || c == 0x7f) {
			if (!bad)
				conf_lex_error(f, "%s in string",
				    conf_lex_char(c, desc, sizeof desc));
			bad = 1;
			continue;
		}
		if (n < CONF_TOKEN_MAX)
			f->tok_text[n++] = (char)c;
		else
			toolong = 1;
	}
	f->tok_text[n] = '\0';
	if (toolong) {
		conf_lex_error(f, "string longer than %d bytes",
		    CONF_TOKEN_MAX);
		return (CONF_T_ERROR);
	}
	return (bad ? CONF_T_ERROR : CONF_T_STRING);
}

/* Read a bare word (its first byte is at f->pos). */
static enum conf_token
conf_lex_word(struct conf_file *f)
{
	size_t	 n = 0;
	int	 toolong = 0;

	while (f->pos < f->len &&
	    conf_lex_wordchar((unsigned char)f->text[f->pos])) {
		if (n < CONF_TOKEN_MAX)
			f->tok_text[n++] = f->text[f->pos];
		else
			toolong = 1;
		f->pos++;
	}
	f->tok_text[n] = '\0';
	if (toolong) {
		conf_lex_error(f, "word longer than %d bytes", CONF_TOKEN_MAX);
		return (CONF_T_ERROR);
	}
	return (CONF_T_WORD);
}

/* Scan the next token into f->tok. */
static void
conf_lex_scan(struct conf_file *f)
{
	int	 c;
	char	 desc[16];

	f->tok_text[0] = '\0';
	for (;;) {
		if (f->pos >= f->len) {
			f->tok = CONF_T_EOF;
			f->tok_line = f->line;
			return;
		}
		c = (unsigned char)f->text[f->pos];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\f' ||
		    c == '\v') {
			f->pos++;
			continue;
		}
		if (c != '#')
			break;
		while (f->pos < f->len && f->text[f->pos] != '\n' &&
		    f->text[f->pos] != '\0')
			f->pos++;
	}
	f->tok_line = f->line;
	if (c == '\n') {
		f->pos++;
		f->line++;
		f->tok = CONF_T_NEWLINE;
	} else if (c == '{' || c == '}') {
		f->pos++;
		f->tok = c == '{' ? CONF_T_LBRACE : CONF_T_RBRACE;
	} else if (c == '"')
		f->tok = conf_lex_string(f);
	else if (conf_lex_wordchar(c))
		f->tok = conf_lex_word(f);
	else {
		f->pos++;
		conf_lex_error(f, "unexpected %s",
		    conf_lex_char(c, desc, sizeof desc));
		f->tok = CONF_T_ERROR;
	}
}

/* Look at the next token without consuming it. */
enum conf_token
conf_lex_peek(struct conf_file *f)
{
	if (!f->peeked) {
		conf_lex_scan(f);
		f->peeked = 1;
	}
	return (f->tok);
}

/* Consume and return the next token. */
enum conf_token
conf_lex_get(struct conf_file *f)
{
	enum conf_token	 t;

	t = conf_lex_peek(f);
	f->peeked = 0;
	return (t);
}

/* Describe the current token for an error message. */
const char *
conf_lex_desc(struct conf_file *f, char *buf, size_t size)
{
	if (f->tok == CONF_T_WORD)
		snprintf(buf, size, "'%s'", f->tok_text);
	else if (f->tok == CONF_T_STRING)
		snprintf(buf, size, "\"%s\"", f->tok_text);
	else
		snprintf(buf, size, "%s", conf_token_names[f->tok]);
	return (buf);
}

/*
 * Skip the rest of a bad statement, quietly: up to the end of the line,
 * through whole brace blocks opened on the way (`depth` of them are open
 * already), and inside a block up to (not over) its closing brace.
 */
void
conf_skip(struct conf_file *f, int in_block, unsigned depth)
{
	enum conf_token	 t;

	f->quiet = 1;
	for (;;) {
		t = conf_lex_peek(f);
		if (t == CONF_T_EOF)
			break;
		if (t == CONF_T_NEWLINE && depth == 0) {
			conf_lex_get(f);
			break;
		}
		if (t == CONF_T_RBRACE) {
			if (depth == 0 && in_block)
				break;
			if (depth > 0)
				depth--;
		} else if (t == CONF_T_LBRACE)
			depth++;
		conf_lex_get(f);
	}
	f->quiet = 0;
}

/* Expect the end of a statement: a newline, the end of the file, or
 * (in a block) its closing brace; 0, or -1 after reporting. */
int
conf_parse_end(struct conf_file *f, int in_block, const char *key)
{
	enum conf_token	 t;
	char		 desc[CONF_TOKEN_MAX + 8];

	t = conf_lex_peek(f);
	if (t == CONF_T_NEWLINE) {
		conf_lex_get(f);
		return (0);
	}
	if (t == CONF_T_EOF || (in_block && t == CONF_T_RBRACE))
		return (0);
	if (t != CONF_T_ERROR)
		conf_error(f, f->tok_line, "%s: unexpected %s (one statement "
		    "per line)", key, conf_lex_desc(f, desc, sizeof desc));
	conf_skip(f, in_block, 0);
	return (-1);
}

/* Read the single value of `key` and the end of the statement into
 * *value (malloc'd); 0, or -1 after reporting. */
int
conf_parse_value(struct conf_file *f, int in_block, const char *key,
    char **value)
{
	enum conf_token	 t;
	char		 desc[CONF_TOKEN_MAX + 8];

	*value = NULL;
	t = conf_lex_peek(f);
	if (t != CONF_T_WORD && t != CONF_T_STRING) {
		if (t != CONF_T_ERROR)
			conf_error(f, f->tok_line, "%s: missing value (found "
			    "%s)", key, conf_lex_desc(f, desc, sizeof desc));
		conf_skip(f, in_block, 0);
		return (-1);
	}
	conf_lex_get(f);
	*value = xstrdup(f->tok_text);
	if (conf_parse_end(f, in_block, key) != 0) {
		free(*value);
		*value = NULL;
		return (-1);
	}
	return (0);
}

/* Compare a key with a keyword table entry (bsearch). */
int
conf_keyword_cmp(const void *key, const void *entry)
{
	const struct conf_keyword	*kw = entry;

	return (strcmp(key, kw->name));
}

/* Format "file:line" for the current token. */
char *
conf_where(struct conf_file *f, unsigned line)
{
	char	*where;

	xasprintf(&where, "%s:%u", f->name, line);
	return (where);
}
