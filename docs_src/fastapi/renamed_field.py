"""A renamed field that still reads the sessions saved under its old name."""

from pydantic import AliasChoices, BaseModel, Field


class Cart(BaseModel):
    # Was called "products": both names are read, the new one is written.
    items: list[str] = Field(
        default=[], validation_alias=AliasChoices("items", "products")
    )
