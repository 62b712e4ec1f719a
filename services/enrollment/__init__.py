"""Enrollment: a child's application to a group, through to enrolled and out. Its own Nameko
service (`enrollment`) on the catalog's database, so seats and applications change in one
transaction while ops scale it apart from the catalog's search."""
