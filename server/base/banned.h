/**
 * banned.h — functions that are easy to misuse; using one is a compile error.
 * Include it last in every .c file of the project.
 */
#ifndef MCPBOX_BANNED_H
#define MCPBOX_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_use_buf_or_snprintf

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gets
#define gets(x) BANNED(gets)

#endif
