/* libfuse's messages go to hubfs's log sink (base/log.h), at its levels. */
#ifndef HUB_FS_FUSE_LOG_H
#define HUB_FS_FUSE_LOG_H

/* Call after hub_log_init. */
void hub_fs_log_attach(void);

#endif
