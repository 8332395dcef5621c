/* version.h: the version, and the User-Agent sent to UW. */
#ifndef UWRELAY_VERSION_H
#define UWRELAY_VERSION_H

#define UWRELAY_VERSION "0.1.0"
#define UWRELAY_USER_AGENT "uwrelay/" UWRELAY_VERSION

#endif
