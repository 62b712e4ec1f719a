"""The roles of a user, as accounts stores them and access tokens carry them."""

PARENT = "parent"
PROVIDER = "provider"
MUNICIPAL_OPERATOR = "municipal_operator"
REGIONAL_OPERATOR = "regional_operator"

ROLES = (PARENT, PROVIDER, MUNICIPAL_OPERATOR, REGIONAL_OPERATOR)
STAFF_ROLES = (PROVIDER, MUNICIPAL_OPERATOR, REGIONAL_OPERATOR)
OPERATORS = (MUNICIPAL_OPERATOR, REGIONAL_OPERATOR)
