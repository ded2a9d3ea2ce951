dnl VHD_CHECK_CFLAG(FLAG, ACTION-IF-OK): does the C compiler accept FLAG
dnl (with -Werror, so an unknown flag is an error)?
AC_DEFUN([VHD_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  vhd_save_CFLAGS="$CFLAGS"
  CFLAGS="$CFLAGS -Werror $1"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); $2], [AC_MSG_RESULT([no])])
  CFLAGS="$vhd_save_CFLAGS"
])

dnl AX_PTHREAD_SIMPLE: find the flag for POSIX threads (-pthread on Linux).
AC_DEFUN([AX_PTHREAD_SIMPLE], [
  AC_MSG_CHECKING([for pthreads])
  vhd_save_LIBS="$LIBS"
  LIBS="$LIBS -pthread"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>]],
    [[pthread_t t; pthread_create(&t, 0, 0, 0);]])],
    [AC_MSG_RESULT([-pthread]); PTHREAD_LIBS="-pthread"],
    [AC_MSG_ERROR([pthreads not found])])
  LIBS="$vhd_save_LIBS"
  AC_SUBST([PTHREAD_LIBS])
])
