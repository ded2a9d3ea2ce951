/*
 * A shared object that is not a vhostd module (no vhd_module symbol), for
 * check_module.
 */

int	nosym_answer(void);

/* Something to export instead of a descriptor. */
int
nosym_answer(void)
{
	return (42);
}
