import pytest

from aftercare.kb import services
from aftercare.kb.choices import ArticleType, Audience


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Write an article and publish it, running the index task as the commit would."""

    def write(
        actor,
        title,
        body="",
        *,
        type=ArticleType.SOLUTION,
        audience=Audience.PUBLIC,
        language="zh-hans",
        summary="",
        keywords="",
        variants=None,
        **settings,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            article = services.create_article(
                actor=actor,
                type=type,
                audience=audience,
                language=language,
                title=title,
                body=body,
                summary=summary,
                keywords=keywords,
                **settings,
            )
            for other_language, (other_title, other_body) in (variants or {}).items():
                services.save_article_version(
                    actor=actor,
                    article=article,
                    language=other_language,
                    title=other_title,
                    body=other_body,
                )
            services.publish_article(actor=actor, article=article)
        article.refresh_from_db()
        return article

    return write
