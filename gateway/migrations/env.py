from gateway.models import Base
from servicekit.migrate import run_env

run_env(Base.metadata, messaging=False)
