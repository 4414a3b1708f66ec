"""Request and response bodies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ID_BYTES = 64  # Milvus VARCHAR(64) counts bytes, PostgreSQL's CHECK counts characters
MAX_DIM = 32768

Vector = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=1, max_length=MAX_DIM)]


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=MAX_ID_BYTES)
    text: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    embedding: Vector

    @field_validator("id")
    @classmethod
    def _id_fits(cls, value: str) -> str:
        if len(value.encode("utf-8")) > MAX_ID_BYTES:
            raise ValueError(f"id is longer than {MAX_ID_BYTES} bytes in UTF-8")
        if "\x00" in value:
            raise ValueError("id contains a NUL character")
        return value

    @field_validator("text")
    @classmethod
    def _text_has_no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("text contains a NUL character")
        return value


class UpsertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[Document] = Field(min_length=1)


class UpsertResponse(BaseModel):
    upserted: int


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    embedding: Vector
    top_k: int = Field(default=5, ge=1, le=100)


class SearchResult(BaseModel):
    id: str
    text: str
    metadata: dict[str, Any]
    score: float


class SearchResponse(BaseModel):
    results: list[SearchResult]
