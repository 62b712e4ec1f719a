"""Enrollment: a child's application to a group, through to enrolled and out. Its own context
and Nameko service (`enrollment`) with its own database: applications and the groups' seats
change in one transaction there, while ops scale it apart from the catalog's search."""
