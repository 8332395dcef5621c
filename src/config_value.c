/* config_value.c: the checks and parsers for single configuration values
 * (host names, origins, upstream and REST URLs, Redis addresses).
 *
 * They are pure: config.c calls them while it reads a file, and the access
 * rules and the tests call them on their own. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "config.h"

int
config_host_valid(const char *h, size_t len)
{
	char buf[64];
	unsigned char b[16];

	if (!len || len > 253)
		return 0;
	if (h[0] == '[') {
		if (len < 4 || h[len - 1] != ']' || len - 2 >= sizeof(buf))
			return 0;
		memcpy(buf, h + 1, len - 2);
		buf[len - 2] = '\0';
		return inet_pton(AF_INET6, buf, b) == 1;
	}
	/* a name or a dotted IPv4 address: the same characters; no empty label */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
		    c != '-' && c != '.')
			return 0;
		if (c == '.' && (i == 0 || h[i - 1] == '.'))
			return 0;
	}
	return h[len - 1] != '.';
}

int
config_origin_normal(const char *s, size_t len, char *out, size_t cap)
{
	const char *p, *end = s + len, *hend, *colon = NULL;
	int tls, n;
	long port = 0;

	tls = len > 8 && !strncasecmp(s, "https://", 8);
	if (!tls && !(len > 7 && !strncasecmp(s, "http://", 7)))
		return -1;
	p = s + (tls ? 8 : 7);
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(end - p));
		if (!hend)
			return -1;
		hend++;
	} else {
		hend = p;
		while (hend < end && *hend != ':')
			hend++;
	}
	if (hend < end) {
		if (*hend != ':' || hend + 1 == end || end - hend > 6)
			return -1;
		colon = hend;
		for (const char *d = colon + 1; d < end; d++) {
			if (*d < '0' || *d > '9')
				return -1;
			port = port * 10 + (*d - '0');
		}
		if (port < 1 || port > 65535)
			return -1;
	}
	if (!config_host_valid(p, (size_t)(hend - p)))
		return -1;
	if (port == (tls ? 443 : 80))
		port = 0;	/* "accepted both ways": the default port is never written */
	n = snprintf(out, cap, "%s://%.*s", tls ? "https" : "http", (int)(hend - p), p);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	for (char *c = out; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if (port) {
		int m = snprintf(out + n, cap - (size_t)n, ":%ld", port);

		if (m < 0 || (size_t)m >= cap - (size_t)n)
			return -1;
	}
	return 0;
}

int
config_addr_is_loopback(const char *addr)
{
	return !strncmp(addr, "127.", 4) || !strcmp(addr, "::1") || !strcmp(addr, "localhost");
}

int
config_parse_rest_url(const char *url, struct config_url *out)
{
	char ws[600];
	int rc;

	/* the same shape as a ws URL: map the scheme and reuse the parser */
	if (!strncmp(url, "https://", 8))
		snprintf(ws, sizeof(ws), "wss://%s", url + 8);
	else if (!strncmp(url, "http://", 7))
		snprintf(ws, sizeof(ws), "ws://%s", url + 7);
	else
		return -1;
	rc = config_parse_url(ws, out);
	if (!rc && strcmp(out->path, "/"))
		return -1;	/* sources give the path */
	return rc;
}

int
config_parse_url(const char *url, struct config_url *out)
{
	const char *p, *host, *host_end, *slash;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (!strncmp(url, "wss://", 6)) {
		out->tls = 1;
		out->port = 443;
		p = url + 6;
	} else if (!strncmp(url, "ws://", 5)) {
		out->port = 80;
		p = url + 5;
	} else
		return -1;
	if (strpbrk(p, "?# "))
		return -1;	/* the token is the only query we add */
	slash = strchr(p, '/');
	host_end = slash ? slash : p + strlen(p);
	host = p;
	if (*host == '[') {	/* [v6]:port */
		const char *rb = memchr(host, ']', (size_t)(host_end - host));

		if (!rb)
			return -1;
		hl = (size_t)(rb - host - 1);
		if (hl == 0 || hl >= sizeof(out->host))
			return -1;
		memcpy(out->host, host + 1, hl);
		p = rb + 1;
	} else {
		const char *colon = memchr(host, ':', (size_t)(host_end - host));

		hl = (size_t)((colon ? colon : host_end) - host);
		if (hl == 0 || hl >= sizeof(out->host))
			return -1;
		memcpy(out->host, host, hl);
		p = colon ? colon : host_end;
	}
	if (memchr(out->host, '@', strlen(out->host)))
		return -1;	/* no credentials in the URL */
	if (p < host_end) {
		char *end;
		long port;

		if (*p != ':')
			return -1;
		port = strtol(p + 1, &end, 10);
		if (end != host_end || port < 1 || port > 65535)
			return -1;
		out->port = (int)port;
	}
	if (!slash)
		strcpy(out->path, "/");
	else {
		if (strlen(slash) >= sizeof(out->path) || strpbrk(slash, "?# "))
			return -1;	/* the token is the only query we add */
		strcpy(out->path, slash);
	}
	return 0;
}

int
config_parse_redis(const char *s, struct config_redis *out)
{
	unsigned char b[16];
	const char *colon;
	char *end;
	long port = 6379;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (!strncmp(s, "unix:", 5)) {
		s += 5;
		if (*s != '/' || strlen(s) >= sizeof(out->unix_path))
			return -1;
		strcpy(out->unix_path, s);
		return 0;
	}
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb)
			return -1;
		hl = (size_t)(rb - s - 1);
		if (!hl || hl >= sizeof(out->host))
			return -1;
		memcpy(out->host, s + 1, hl);
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb[1] && !colon)
			return -1;
	} else {
		colon = strrchr(s, ':');
		hl = colon ? (size_t)(colon - s) : strlen(s);
		if (!hl || hl >= sizeof(out->host) || memchr(s, ':', hl))
			return -1;
		memcpy(out->host, s, hl);
	}
	if (colon) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
			return -1;
	}
	out->port = (int)port;
	if (!strcmp(out->host, "localhost"))
		strcpy(out->host, "127.0.0.1");
	if (inet_pton(AF_INET, out->host, b) != 1 && inet_pton(AF_INET6, out->host, b) != 1)
		return -1;
	return 0;
}
