/* The migrations embedded by src/gen-sql.sh, in ascending order. */
#ifndef POPGATE_STORE_SQL_H
#define POPGATE_STORE_SQL_H

struct store_migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct store_migration store_migrations[];

#endif
