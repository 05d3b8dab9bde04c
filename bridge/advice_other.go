//go:build !windows

package bridge

// deniedAdvice says what to do for a Pickup file mailbridge may not read:
// on Linux a file's mode comes from its writer's umask, and its group from
// the Pickup folder's set-group-ID bit (README, "On Linux, as a service");
// found from outside, the Windows advice was given here.
const deniedAdvice = "make it readable by mailbridge's group: the Pickup folder set-group-ID (chmod g+s) so that new files get its group, and the writer's umask leaving group read (0007 or 0027); for this file, chgrp and chmod g+r"
