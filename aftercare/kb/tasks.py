"""Background jobs of the knowledge base. They take ids and are safe to run twice."""

from huey.contrib.djhuey import db_task


@db_task(retries=3, retry_delay=10)
def reindex_article(article_id: int) -> int:
    """Make the search index show the article's current live variants."""
    from .search import index_article

    return index_article(article_id)
