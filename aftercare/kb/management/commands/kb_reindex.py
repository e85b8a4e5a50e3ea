from django.core.management.base import BaseCommand

from aftercare.kb.search import rebuild_index


class Command(BaseCommand):
    help = "Rebuild the knowledge-base search index from the live articles."

    def handle(self, *args, **options) -> None:
        documents = rebuild_index()
        self.stdout.write(f"indexed {documents} article variants")
