from typing import Annotated

from pydantic import Field

# An id sent by a client: a positive 64-bit integer, so that every database compares it the
# same way (SQLite cannot even bind a larger one).
ObjectId = Annotated[int, Field(ge=1, le=2**63 - 1)]
