# The export permission of the admin's export action.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('privacy_kit', '0005_erasure_pending_subject'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='accesslog',
            options={'ordering': ['-created_at', '-pk'], 'permissions': [('export_personal_data', "Can export a customer's personal data")], 'verbose_name': 'access log entry', 'verbose_name_plural': 'access log'},
        ),
    ]
