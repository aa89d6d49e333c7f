import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.functions.comparison
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """The list's search reads a stored column, `search_words` (GENERATED ALWAYS AS ...
    STORED: PostgreSQL keeps it right on every write), indexed by GIN, instead of an index
    on the expression: a search that matches many leads walks the list in its order and
    tests each lead's words, and a count estimate tests a sample of leads; with the
    expression each test computed the words again (about ten times slower).

    Adding the column rewrites the table under an exclusive lock (about 2.5 minutes for
    a million leads on the development machine, with its other indexes rebuilt): run it
    when the list may pause. The old expression index goes first, so the rewrite does not
    rebuild it; the new index is built without blocking writes."""

    atomic = False

    dependencies = [("leads", "0020_lead_predictive_score")]

    operations = [
        RemoveIndexConcurrently(model_name="lead", name="lead_search_idx"),
        migrations.AddField(
            model_name="lead",
            name="search_words",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Func(
                    models.Value("simple"),
                    models.Func(
                        models.Func(
                            models.F("first_name"),
                            models.F("last_name"),
                            django.db.models.functions.comparison.Coalesce(
                                models.F("email"), models.Value("")
                            ),
                            models.F("company"),
                            django.db.models.functions.comparison.Coalesce(
                                models.F("phone"), models.Value("")
                            ),
                            django.db.models.functions.comparison.Coalesce(
                                models.F("external_id"), models.Value("")
                            ),
                            arg_joiner=" || ' ' || ",
                            output_field=models.TextField(),
                            template="(%(expressions)s)",
                        ),
                        models.Value("[[:punct:][:space:][:cntrl:]]+"),
                        models.Value(" "),
                        models.Value("g"),
                        function="regexp_replace",
                        output_field=models.TextField(),
                    ),
                    function="to_tsvector",
                    output_field=django.contrib.postgres.search.SearchVectorField(),
                ),
                output_field=django.contrib.postgres.search.SearchVectorField(),
            ),
        ),
        AddIndexConcurrently(
            model_name="lead",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["search_words"], name="lead_search_words_idx"
            ),
        ),
    ]
