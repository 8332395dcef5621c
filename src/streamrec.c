/* streamrec.c: Redis Stream records of upstream frames (see streamrec.h). */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include "streamrec.h"

int
streamrec_id_seq(const char *id, size_t len, uint64_t *seq)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && id[i] >= '0' && id[i] <= '9'; i++) {
		uint64_t d = (uint64_t)(id[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (!i || i == len || id[i] != '-' || i + 1 == len)
		return -1;
	for (size_t j = i + 1; j < len; j++)
		if (id[j] < '0' || id[j] > '9')
			return -1;
	*seq = v;
	return 0;
}

static int
is_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

int
streamrec_parse(const redisReply *entry, struct streamrec *out, const char **why)
{
	const redisReply *fields;
	int have_d = 0;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
	    !is_str(entry->element[0])) {
		*why = "not an [id, fields] entry";
		return -1;
	}
	if (streamrec_id_seq(entry->element[0]->str, entry->element[0]->len, &out->seq) ||
	    !out->seq) {
		*why = "entry id is not <seq>-<n>";
		return -1;
	}
	fields = entry->element[1];
	if (!fields || fields->type != REDIS_REPLY_ARRAY || fields->elements % 2) {
		*why = "fields are not name/value pairs";
		return -1;
	}
	for (size_t i = 0; i < fields->elements; i += 2) {
		const redisReply *k = fields->element[i], *v = fields->element[i + 1];

		if (!is_str(k) || !is_str(v) || k->len != 1)
			continue;	/* someone else's field: ignored */
		switch (k->str[0]) {
		case 'd':
			out->payload = v->str;
			out->payload_len = v->len;
			have_d = 1;
			break;
		case 't': {
			int64_t t = 0;
			size_t j;

			for (j = 0; j < v->len && j < 18 && v->str[j] >= '0' && v->str[j] <= '9'; j++)
				t = t * 10 + (v->str[j] - '0');
			if (j == v->len && j)
				out->t_ms = t;
			break;
		}
		case 'e':
			if (v->len == 16 && strspn(v->str, "0123456789abcdef") == 16)
				memcpy(out->epoch, v->str, 17);
			break;
		default:
			break;
		}
	}
	if (!have_d) {
		*why = "no payload field";
		return -1;
	}
	return 0;
}

void
streamrec_sha1(const char *script, char out[41])
{
	unsigned char md[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)script, strlen(script), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Appends one frame, fenced by the lock: only the relay holding the UW link
 * may write, so a relay that lost the lock (and does not know yet) cannot
 * interleave its frames with the new holder's.
 *   KEYS: stream, seq hash, epoch key, lock key
 *   ARGV: node id, channel, maxlen, payload, receive time ms, epoch to use
 *         if the cluster has none yet
 * Returns the frame's seq. The seq hash survives trimming; if it was lost
 * while the stream was not, the stream's last id still wins. */
const char STREAMREC_LUA_APPEND[] =
	"if redis.call('GET', KEYS[4]) ~= ARGV[1] then\n"
	"  return redis.error_reply('NOTLEADER this relay does not hold the UW link lock')\n"
	"end\n"
	"local e = redis.call('GET', KEYS[3])\n"
	"if not e then e = ARGV[6]; redis.call('SET', KEYS[3], e) end\n"
	"local n = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)\n"
	"if n == 1 then\n"
	"  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
	"  if last[1] then\n"
	"    local l = tonumber(string.match(last[1][1], '^(%d+)'))\n"
	"    if l and l >= n then n = l + 1; redis.call('HSET', KEYS[2], ARGV[2], n) end\n"
	"  end\n"
	"end\n"
	"redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], n .. '-0', 'd', ARGV[4], 't', ARGV[5], 'e', e)\n"
	"return n\n";

/* Renews the lock if this relay holds it. KEYS: lock; ARGV: node id, ttl ms.
 * Returns 1 if renewed, 0 if someone else (or nobody) holds it. */
const char STREAMREC_LUA_RENEW[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
	"end\n"
	"return 0\n";

/* Gives the lock up if held (clean shutdown: the standby need not wait for
 * the expiry). KEYS: lock; ARGV: node id. */
const char STREAMREC_LUA_RELEASE[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('DEL', KEYS[1])\n"
	"end\n"
	"return 0\n";

/* The channels some edge still wants: drops wishes past their expiry
 * (Redis' own clock, so hosts' clocks need not agree) and lists the rest.
 * KEYS: wanted sorted set (member: channel, score: expiry ms). */
const char STREAMREC_LUA_WANTED[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
	"return redis.call('ZRANGE', KEYS[1], 0, -1)\n";

/* An edge's wish to read channels for ttl more ms (never shortens another
 * edge's). KEYS: wanted sorted set; ARGV: ttl ms, channel, channel, ... */
const char STREAMREC_LUA_INTEREST[] =
	"local t = redis.call('TIME')\n"
	"local exp = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])\n"
	"for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'GT', exp, ARGV[i]) end\n"
	"return #ARGV - 1\n";
